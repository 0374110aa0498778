import type { Encoding } from "./encoding";
import { jsonBytes } from "./json";
import { countString } from "./tokenizer";

/*
 * What OpenAI bills for tool definitions, and why JSON tokens plus these margins bound it.
 *
 * The API does not send the JSON to the model: it renders the tools into the system message as a TypeScript-like
 * namespace (the rendering the cookbook's and openai-chat-tokens' counters reproduce):
 *
 *   # Tools\n\n## functions\n\nnamespace functions {\n\n// Get the weather\ntype get_weather = (_: {\n
 *   // City name\nlocation: string,\nunit?: "celsius" | "fahrenheit",\n}) => any;\n\n} // namespace functions
 *
 * Per function and per property that text is shorter than the JSON it comes from ('"location":{"type":"string",
 * "description":"..."}' against 'location: string,' plus the same description), and string contents appear in
 * both. Three places can render longer than the JSON and get a margin each:
 *  - the fixed header and footer (and a system message created to hold them): TOOLS_OVERHEAD, once;
 *  - each array element (enum members become ' "a" |', about 2 tokens more than '"a",'): PER_ARRAY_ITEM;
 *  - each line break inside a description (each line becomes a '// ' comment): PER_LINE_BREAK;
 * plus PER_TOOL per definition against per-function framing we do not know of. The cookbook fits the API's count
 * with 7-10 tokens per function, 3 per property, 3 per enum member and 12 in all; tests check this bound against
 * that fit and against the API's own count on the cookbook's example. Built-in tools of the Responses API
 * (web_search, file_search, ...) also inject hidden instructions and results: no bound can see those.
 */
export const TOOLS_OVERHEAD = 32;
export const PER_TOOL = 8;
export const PER_ARRAY_ITEM = 3;
export const PER_LINE_BREAK = 2;

/** Array elements below the top level and line breaks inside strings, walked without recursion. */
function shapeOf(tools: unknown): { arrayItems: number; lineBreaks: number } {
  let arrayItems = 0;
  let lineBreaks = 0;
  const stack: unknown[] = Array.isArray(tools) ? [...(tools as unknown[])] : [tools];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === "string") {
      for (let index = item.indexOf("\n"); index >= 0; index = item.indexOf("\n", index + 1)) lineBreaks++;
    } else if (typeof item === "object" && item !== null && !seen.has(item)) {
      seen.add(item);
      if (Array.isArray(item)) {
        arrayItems += item.length;
        for (const element of item as unknown[]) stack.push(element);
      } else {
        for (const [key, child] of Object.entries(item)) stack.push(key, child);
      }
    }
  }
  return { arrayItems, lineBreaks };
}

function withMargins(tools: unknown, textTokens: number): number {
  const { arrayItems, lineBreaks } = shapeOf(tools);
  const definitions = Array.isArray(tools) ? tools.length : 1;
  return textTokens + TOOLS_OVERHEAD + PER_TOOL * definitions + PER_ARRAY_ITEM * arrayItems + PER_LINE_BREAK * lineBreaks;
}

/**
 * An upper bound of the prompt tokens that `tools` (Chat Completions `tools` or legacy `functions`, or the
 * Responses API's `tools`) add to a request; 0 when absent or empty. Never throws.
 */
export function toolsPromptTokens(tools: unknown, encoding: Encoding): number {
  if (tools === undefined || tools === null) return 0;
  if (Array.isArray(tools) && tools.length === 0) return 0;
  try {
    const text = JSON.stringify(tools);
    if (text === undefined) return 0;
    return withMargins(tools, countString(text, encoding));
  } catch {
    // Too deep to serialise: bytes bound the text, and the margins still apply.
    try {
      return withMargins(tools, jsonBytes(tools));
    } catch {
      return Number.MAX_SAFE_INTEGER;
    }
  }
}
