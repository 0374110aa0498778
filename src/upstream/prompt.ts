import {
  chatPromptTokens,
  encodingFor,
  isEncodingLoaded,
  loadEncoding,
  lowerBoundTokens,
  responsesPromptTokens,
  textPromptTokens,
  toolsPromptTokens,
  type Encoding,
} from "../tokens";
import { promptUpperBound } from "./estimate";

/** The parts of a request that make up its prompt, as each endpoint names them. */
export type PromptInput =
  | { readonly kind: "chat"; readonly messages: unknown; readonly tools?: unknown; readonly functions?: unknown }
  | { readonly kind: "text"; readonly input: unknown }
  | { readonly kind: "responses"; readonly input: unknown; readonly instructions?: unknown; readonly tools?: unknown }
  | { readonly kind: "anthropic"; readonly system?: unknown; readonly messages: unknown; readonly tools?: unknown };

/** What admission reserves for a prompt, and how sure it is. */
export interface PromptEstimate {
  /** Upper bound of the prompt's tokens. */
  readonly promptTokens: number;
  /** promptTokens is the tokenizer's count (tools with a safe margin), not the byte bound. */
  readonly promptExact: boolean;
  /** Tokens the prompt has at least: a request is too large only when this exceeds a limit. */
  readonly promptLowerBound: number;
}

/**
 * Prompts at least this large (bytes) are worth skipping the tokenizer for when their byte bound fits easily
 * (about 4 ms of CPU at 32 KB); smaller ones are always counted, it costs well under a millisecond.
 */
export const SKIP_TOKENIZER_FROM_BYTES = 32 * 1024;

/**
 * Prompts larger than this are never tokenized: natural text costs about 0.2 ms per KB, but text built to defeat
 * the tokenizer's cache costs about 2.5 ms per KB, so an authenticated client could otherwise spend seconds of
 * CPU per call. Above it the byte bound stands (owners calibrate it per model under the adaptive policy).
 */
export const MAX_TOKENIZED_BYTES = 512 * 1024;

function byteBound(input: PromptInput): number {
  switch (input.kind) {
    case "chat":
      return promptUpperBound(input.messages, input.tools, input.functions);
    case "text":
      return promptUpperBound(input.input);
    case "responses":
      return promptUpperBound(input.input, input.instructions, input.tools);
    case "anthropic":
      return promptUpperBound(input.system, input.messages, input.tools);
  }
}

/**
 * The prompt counted in two parts: the exact count of its text (with framing), and the safe bound of its tool
 * and function schemas (OpenAI bills those in a rendering we can only bound). Their sum is what the endpoint's
 * own counter (chatPromptTokens, responsesPromptTokens) gives, without counting the messages twice.
 */
function count(input: PromptInput, encoding: Encoding): { exact: number; tools: number } {
  switch (input.kind) {
    case "chat":
      return {
        exact: chatPromptTokens({ messages: input.messages }, encoding),
        tools: toolsPromptTokens(input.tools, encoding) + toolsPromptTokens(input.functions, encoding),
      };
    case "text":
      return { exact: textPromptTokens(input.input, encoding), tools: 0 };
    case "responses":
      return { exact: responsesPromptTokens({ input: input.input, instructions: input.instructions }, encoding), tools: toolsPromptTokens(input.tools, encoding) };
    case "anthropic": {
      // Only when MODEL_TOKENIZERS maps a Claude model to an encoding: Anthropic's tokenizer is not public, so
      // by default these prompts are bounded by bytes and calibrated per model by their owners.
      const system = input.system === undefined ? [] : [{ role: "system", content: input.system }];
      const messages = Array.isArray(input.messages) ? input.messages : [];
      return { exact: chatPromptTokens({ messages: [...system, ...messages] }, encoding), tools: toolsPromptTokens(input.tools, encoding) };
    }
  }
}

/** The model's encoding, loaded: the first prompt of an encoding in an isolate waits for its vocabulary once. */
export async function tokenizerFor(model: string, tokenizers: Readonly<Record<string, string>>): Promise<Encoding | null> {
  const encoding = encodingFor(model, tokenizers);
  if (encoding !== null && !isEncodingLoaded(encoding)) await loadEncoding(encoding);
  return encoding;
}

/**
 * The prompt's tokens: counted exactly with `encoding` (from tokenizerFor) where the model's tokenizer is public,
 * else bounded by bytes (owners learn a calibration of that bound per model). `roomTokens` is what this front
 * door last saw free at the key (null: unknown); a large prompt whose byte bound fits twenty times over is not
 * tokenized, as its exact count would change nothing but the CPU spent.
 */
export function estimatePrompt(input: PromptInput, encoding: Encoding | null, roomTokens: number | null = null): PromptEstimate {
  const bound = byteBound(input);
  const bytesOnly = { promptTokens: bound, promptExact: false, promptLowerBound: lowerBoundTokens(bound) };
  if (encoding === null || !isEncodingLoaded(encoding) || bound > MAX_TOKENIZED_BYTES) return bytesOnly;
  if (bound >= SKIP_TOKENIZER_FROM_BYTES && roomTokens !== null && bound * 20 <= roomTokens) return bytesOnly;
  const { exact, tools } = count(input, encoding);
  return { promptTokens: exact + tools, promptExact: true, promptLowerBound: exact };
}
