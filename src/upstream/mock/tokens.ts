import { normalizePath } from "./paths";

/** Output length when the request sets no cap; tests elsewhere depend on it. */
export const DEFAULT_COMPLETION_TOKENS = 16;
/** One mock "token" of generated text; streams emit exactly one per content chunk. */
export const MOCK_TOKEN = "tok ";

const PER_MESSAGE_TOKENS = 3;
const PER_REQUEST_TOKENS = 3;

const encoder = new TextEncoder();

/** Characters are UTF-16 code units (`string.length`), never more than UTF-8 bytes. */
export function textTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

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

/**
 * Deterministic prompt-token count the mock reports for a request body.
 *
 * The result is clamped to the UTF-8 byte length of the serialised input so a
 * gateway can safely use "input bytes" as an upper bound when reserving quota
 * before the upstream answers (the fixed overheads alone would otherwise exceed
 * it for e.g. `messages: []`).
 */
export function countPromptTokens(body: unknown, path: string): number {
  if (!isRecord(body)) return 0;
  let input: unknown;
  let count: (value: unknown) => number;
  switch (normalizePath(path)) {
    case "/chat/completions":
      input = body.messages;
      count = messagesTokens;
      break;
    case "/completions":
      input = body.prompt;
      count = inputTokens;
      break;
    case "/embeddings":
      input = body.input;
      count = inputTokens;
      break;
    case "/responses":
      input = body.input;
      count = (value) => (typeof value === "string" ? textTokens(value) : messagesTokens(value));
      break;
    default:
      return 0;
  }
  // Serialise first: it throws on cycles, which would otherwise recurse forever.
  const bytes = serializedBytes(input);
  if (bytes === null) return 0;
  return Math.min(count(input), bytes);
}

export interface CompletionPlan {
  tokens: number;
  /** True when an explicit cap decided the length, which the API reports as "length". */
  capped: boolean;
}

export function planCompletion(...caps: ReadonlyArray<number | null | undefined>): CompletionPlan {
  for (const cap of caps) {
    if (typeof cap === "number") return { tokens: cap, capped: true };
  }
  return { tokens: DEFAULT_COMPLETION_TOKENS, capped: false };
}

export function mockText(tokens: number): string {
  return MOCK_TOKEN.repeat(tokens);
}
