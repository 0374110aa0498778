import type { Encoding } from "./encoding";
import { jsonBytes, jsonTokens } from "./json";
import { countString } from "./tokenizer";
import { toolsPromptTokens } from "./tools";

/**
 * Prompt token counts for OpenAI's endpoints, following the framing of OpenAI's cookbook "How to count tokens
 * with tiktoken": each message is <|im_start|>{role}<|im_sep|>{content}<|im_end|> (3 tokens plus its role and
 * content), a name costs 1 more, and the reply is primed with 3. Every function takes untyped request JSON and
 * never throws: whatever it does not recognise counts as the tokens of its JSON serialisation.
 */

/**
 * Tokens charged for one image part, whatever its size: GPT-4o's worst case (85 + 170 per 512 px tile; a
 * high-detail 768x2048 image has the most tiles, 8: 1,445) rounded up, the same constant as
 * src/upstream/estimate.ts. Not a bound for every model: gpt-4o-mini bills 2,833 + 5,667 per tile (up to about
 * 48,000) and the patch-based gpt-4.1-mini/nano and o4-mini up to about 3,800, so callers serving those pass a
 * larger imageTokens.
 */
export const IMAGE_TOKENS = 1_600;

/**
 * No token of any vocabulary we expect spans more bytes. OpenAI's longest, in o200k_base and cl100k_base alike, is
 * 128 bytes (a test checks it); SentencePiece vocabularies cap pieces at 16 characters (64 bytes) by default. For
 * vocabularies nobody can inspect (Claude's) this is an assumption with a 2x margin, not a proof.
 */
export const MAX_TOKEN_BYTES = 256;

const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMING = 3;
/**
 * The API nests prompts two deep at most (a batch of token-id arrays); anything deeper is malformed and, like
 * every malformed part, counts as its JSON.
 */
const MAX_PROMPT_DEPTH = 2;

const IMAGE_TYPES = new Set(["image_url", "input_image", "image"]);
const TEXT_TYPES = new Set(["text", "input_text", "output_text"]);

export interface CountOptions {
  /** Tokens per image part; IMAGE_TOKENS when absent. */
  readonly imageTokens?: number;
}

interface Context {
  readonly encoding: Encoding;
  readonly imageTokens: number;
}

function contextOf(encoding: Encoding, options: CountOptions | undefined): Context {
  const imageTokens = options?.imageTokens;
  return { encoding, imageTokens: typeof imageTokens === "number" && imageTokens >= 0 ? imageTokens : IMAGE_TOKENS };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Tokens of `text` with no framing. A non-string counts as its JSON serialisation. See countString. */
export function countText(text: string, encoding: Encoding): number {
  if (typeof text === "string") return countString(text, encoding);
  return jsonTokens(text, encoding);
}

function valueTokens(value: unknown, context: Context): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === "string") return countString(value, context.encoding);
  if (typeof value === "number" || typeof value === "boolean") return countString(String(value), context.encoding);
  return jsonTokens(value, context.encoding);
}

function partTokens(part: unknown, context: Context): number {
  if (!isRecord(part)) return valueTokens(part, context);
  const type = part.type;
  if (typeof type === "string" && IMAGE_TYPES.has(type)) return context.imageTokens;
  if (typeof type === "string" && TEXT_TYPES.has(type) && typeof part.text === "string") {
    return countString(part.text, context.encoding);
  }
  return jsonTokens(part, context.encoding);
}

function contentTokens(content: unknown, context: Context): number {
  if (!Array.isArray(content)) return valueTokens(content, context);
  let total = 0;
  for (const part of content as unknown[]) total += partTokens(part, context);
  return total;
}

/** One chat message or Responses input item: framing, then every field's value (role, name, content, ...). */
function messageTokens(message: unknown, context: Context): number {
  if (!isRecord(message)) return TOKENS_PER_MESSAGE + valueTokens(message, context);
  let total = TOKENS_PER_MESSAGE;
  for (const [key, value] of Object.entries(message)) {
    if (key === "content") total += contentTokens(value, context);
    // The API renders calls more compactly than their JSON (whose arguments string is escaped twice).
    else if (key === "tool_calls" || key === "function_call") total += jsonTokens(value, context.encoding);
    else total += valueTokens(value, context);
    if (key === "name") total += TOKENS_PER_NAME;
  }
  return total;
}

/**
 * When counting itself fails (it should not: only a value JSON.parse cannot produce, such as a throwing getter,
 * gets here), the byte length of everything still bounds the tokens; a value that cannot even be walked gets a
 * count no limit admits, failing closed.
 */
function failSafe(value: unknown, count: () => number): number {
  try {
    return count();
  } catch {
    try {
      return jsonBytes(value) + REPLY_PRIMING;
    } catch {
      return Number.MAX_SAFE_INTEGER;
    }
  }
}

/**
 * Prompt tokens of a Chat Completions request: its messages with the cookbook's framing (exact for text, as the
 * cookbook checks against the API), image parts at imageTokens each, and an upper bound for tools/functions.
 */
export function chatPromptTokens(
  body: { messages: unknown; tools?: unknown; functions?: unknown },
  encoding: Encoding,
  options?: CountOptions,
): number {
  return failSafe(body, () => {
    const context = contextOf(encoding, options);
    const request: Record<string, unknown> = isRecord(body) ? body : {};
    let total = REPLY_PRIMING;
    const messages = request.messages;
    if (Array.isArray(messages)) for (const message of messages as unknown[]) total += messageTokens(message, context);
    else total += valueTokens(messages, context);
    return total + toolsPromptTokens(request.tools, encoding) + toolsPromptTokens(request.functions, encoding);
  });
}

/**
 * Prompt tokens of a Completions `prompt` or an Embeddings `input`: a string, an array of strings, an array of
 * token ids (1 each) or of such arrays; each string is counted alone, as the API treats each as its own input.
 * Objects in the array count as chat messages (a Responses-style item list), with the reply priming.
 */
export function textPromptTokens(input: unknown, encoding: Encoding, options?: CountOptions): number {
  return failSafe(input, () => {
    const context = contextOf(encoding, options);
    if (!Array.isArray(input)) return typeof input === "number" ? 1 : valueTokens(input, context);
    let total = 0;
    let messages = false;
    const stack: { value: unknown; depth: number }[] = [{ value: input, depth: 0 }];
    while (stack.length > 0) {
      const { value, depth } = stack.pop()!;
      if (Array.isArray(value)) {
        if (depth >= MAX_PROMPT_DEPTH) total += jsonTokens(value, encoding);
        else for (const element of value as unknown[]) stack.push({ value: element, depth: depth + 1 });
      } else if (typeof value === "number") total += 1;
      else if (isRecord(value)) {
        total += messageTokens(value, context);
        messages = true;
      } else total += valueTokens(value, context);
    }
    return messages ? total + REPLY_PRIMING : total;
  });
}

/**
 * Prompt tokens of a Responses API request: `input` (a string is one user message; an array holds message,
 * function_call, function_call_output... items, each framed like a message), `instructions` (a developer message)
 * and `tools`. Blind to context the request only points to (previous_response_id, conversation, item_reference):
 * callers must not treat such a count as complete.
 */
export function responsesPromptTokens(
  body: { input: unknown; instructions?: unknown; tools?: unknown },
  encoding: Encoding,
  options?: CountOptions,
): number {
  return failSafe(body, () => {
    const context = contextOf(encoding, options);
    const request: Record<string, unknown> = isRecord(body) ? body : {};
    const asMessage = (role: string, text: unknown) =>
      TOKENS_PER_MESSAGE + countString(role, encoding) + valueTokens(text, context);
    let total = REPLY_PRIMING;
    const input = request.input;
    if (typeof input === "string") total += asMessage("user", input);
    else if (Array.isArray(input)) {
      for (const item of input as unknown[]) {
        total += typeof item === "string" ? asMessage("user", item) : messageTokens(item, context);
      }
    } else total += valueTokens(input, context);
    const instructions = request.instructions;
    if (instructions !== undefined && instructions !== null) total += asMessage("developer", instructions);
    return total + toolsPromptTokens(request.tools, encoding);
  });
}

/**
 * Tokens that `utf8Bytes` bytes of prompt text are at least, for any model, tokenizer known or not, since no token
 * spans more than MAX_TOKEN_BYTES bytes; chat framing only adds to it. Text only: inline image, audio or file data
 * (base64) is billed by other rules, often far below a token per 256 bytes, and must be left out of the count.
 */
export function lowerBoundTokens(utf8Bytes: number): number {
  if (!Number.isFinite(utf8Bytes) || utf8Bytes <= 0) return 0;
  return Math.ceil(utf8Bytes / MAX_TOKEN_BYTES);
}
