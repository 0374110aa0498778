import { fnv1a, mulberry32 } from "./hash";
import { chatPromptTokens, countText, encodingFor, isEncodingLoaded, responsesPromptTokens, textPromptTokens } from "../tokens";
import { anthropicPromptTokens } from "./anthropic-prompt";
import { normalizePath } from "./paths";
import { isRecord, PER_MESSAGE_TOKENS, PER_REQUEST_TOKENS, textTokens } from "./text";

/** One mock "token" of generated text; streams emit exactly one per content chunk. */
export const MOCK_TOKEN = "tok ";

const encoder = new TextEncoder();

export { isRecord, textTokens };

function contentTokens(content: unknown): number {
  if (typeof content === "string") return textTokens(content);
  if (!Array.isArray(content)) return 0;
  let total = 0;
  for (const part of content) {
    if (typeof part === "string") total += textTokens(part);
    // Covers chat `text` parts and Responses `input_text`/`output_text` parts;
    // images and audio carry no text and are deliberately free.
    else if (isRecord(part) && typeof part.text === "string") total += textTokens(part.text);
  }
  return total;
}

function messagesTokens(messages: unknown): number {
  if (!Array.isArray(messages)) return 0;
  let total = PER_REQUEST_TOKENS;
  for (const message of messages) {
    total += PER_MESSAGE_TOKENS + (isRecord(message) ? contentTokens(message.content) : 0);
  }
  return total;
}

/** Strings, token ids (one each) and arbitrarily nested arrays of either. */
function inputTokens(input: unknown): number {
  if (typeof input === "string") return textTokens(input);
  if (typeof input === "number") return 1;
  if (!Array.isArray(input)) return 0;
  let total = 0;
  for (const item of input) total += inputTokens(item);
  return total;
}

function serializedBytes(value: unknown): number | null {
  try {
    const json = JSON.stringify(value);
    return json === undefined ? 0 : encoder.encode(json).length;
  } catch {
    return null;
  }
}

/** The part of a request body that is the prompt, and how the mock counts its tokens; null if the path has none. */
function promptOf(body: unknown, path: string): { input: unknown; count: (value: unknown) => number } | null {
  if (!isRecord(body)) return null;
  switch (normalizePath(path)) {
    case "/chat/completions":
      return { input: body.messages, count: messagesTokens };
    case "/completions":
      return { input: body.prompt, count: inputTokens };
    case "/embeddings":
      return { input: body.input, count: inputTokens };
    case "/responses":
      return { input: body.input, count: (value) => (typeof value === "string" ? textTokens(value) : messagesTokens(value)) };
    case "/messages":
    case "/messages/count_tokens":
      // Anthropic's render order (tools, system, messages), which is also the order prompt caching reads it in.
      return { input: { tools: body.tools, system: body.system, messages: body.messages }, count: anthropicPromptTokens };
    default:
      return null;
  }
}

/**
 * What OpenAI bills for an OpenAI model's prompt: its tokenizer's count with the chat framing (tool schemas as
 * their JSON's tokens, less than the gateway's bound for them). null for other models, or while the model's
 * vocabulary is not loaded in this isolate (the gateway loads it before forwarding).
 */
function tokenizerCount(body: unknown, path: string): number | null {
  if (!isRecord(body) || typeof body.model !== "string") return null;
  const encoding = encodingFor(body.model, {});
  if (encoding === null || !isEncodingLoaded(encoding)) return null;
  const tools = body.tools === undefined ? 0 : countText(JSON.stringify(body.tools) ?? "", encoding);
  switch (normalizePath(path)) {
    case "/chat/completions":
      return chatPromptTokens({ messages: body.messages }, encoding) + tools;
    case "/completions":
      return textPromptTokens(body.prompt, encoding);
    case "/embeddings":
      return textPromptTokens(body.input, encoding);
    case "/responses":
      return responsesPromptTokens({ input: body.input, instructions: body.instructions }, encoding) + tools;
    default:
      return null;
  }
}

/**
 * Deterministic prompt-token count the mock reports for a request body: about four characters a token, never
 * more than an OpenAI model's tokenizer count (what OpenAI bills, and what the gateway reserves for it).
 *
 * The result is clamped to the UTF-8 byte length of the serialised input so a
 * gateway can safely use "input bytes" as an upper bound when reserving quota
 * before the upstream answers (the fixed overheads alone would otherwise exceed
 * it for e.g. `messages: []`).
 */
export function countPromptTokens(body: unknown, path: string): number {
  const prompt = promptOf(body, path);
  if (prompt === null) return 0;
  // Never more than the tokenizer's count: an OpenAI model bills exactly that, and the gateway reserves it.
  const exact = tokenizerCount(body, path);
  // Serialise first: it throws on cycles, which would otherwise recurse forever.
  const bytes = serializedBytes(prompt.input);
  if (bytes === null) return 0;
  return Math.min(prompt.count(prompt.input), bytes, exact ?? Number.POSITIVE_INFINITY);
}

/** Median length of a generated answer (chat, completions, responses) when the request does not set one. */
export const MEDIAN_COMPLETION_TOKENS = 300;
/**
 * Spread of answer lengths: ln(length) is normal with this standard deviation, so a quarter of answers are
 * under ~half the median and one in ten over ~3.6 times it (the long tail real models show).
 */
export const COMPLETION_LENGTH_SIGMA = 1;
/** Ceiling on any generated answer (natural or forced), so a stray header cannot build a gigabyte string. */
export const MAX_COMPLETION_TOKENS = 100_000;

/**
 * How long the mock "model" answers this prompt when nothing stops it: a log-normal draw (median `median`,
 * sigma COMPLETION_LENGTH_SIGMA) seeded by a hash of the prompt text, so equal prompts get equal lengths.
 */
export function naturalCompletionTokens(body: unknown, path: string, median: number = MEDIAN_COMPLETION_TOKENS): number {
  const prompt = promptOf(body, path);
  let text = "";
  try {
    text = JSON.stringify(prompt?.input) ?? "";
  } catch {
    // A cyclic prompt: any fixed seed will do.
  }
  const next = mulberry32(fnv1a(text));
  // Box-Muller; 1 - u keeps the logarithm's argument in (0, 1].
  const z = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const length = Math.round(median * Math.exp(COMPLETION_LENGTH_SIGMA * z));
  return Math.min(Math.max(length, median > 0 ? 1 : 0), MAX_COMPLETION_TOKENS);
}

/** Header-driven overrides of the answer length (see controls.ts). */
export interface LengthControls {
  /** x-mock-completion-tokens: exactly this many tokens, whatever the cap. */
  completionTokens: number | null;
  /** x-mock-length-median: the median of natural lengths instead of MEDIAN_COMPLETION_TOKENS. */
  lengthMedian: number | null;
}

export interface CompletionPlan {
  tokens: number;
  /** True when the answer reached the request's cap, which the API reports as finish_reason "length". */
  capped: boolean;
}

/**
 * The answer's length: min(natural length, the first cap given), or exactly the forced length when
 * x-mock-completion-tokens is set (which may exceed the cap, to simulate an upstream that overruns its
 * reservation). "length" is reported when a cap exists and the answer reached it, "stop" otherwise.
 */
export function planCompletion(
  body: unknown,
  path: string,
  controls: LengthControls,
  ...caps: ReadonlyArray<number | null | undefined>
): CompletionPlan {
  const cap = caps.find((value): value is number => typeof value === "number") ?? null;
  const tokens =
    controls.completionTokens ??
    Math.min(naturalCompletionTokens(body, path, controls.lengthMedian ?? MEDIAN_COMPLETION_TOKENS), cap ?? Infinity);
  return { tokens, capped: cap !== null && tokens >= cap };
}

export function mockText(tokens: number): string {
  return MOCK_TOKEN.repeat(tokens);
}
