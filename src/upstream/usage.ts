import type { TokenSplit } from "../limiter";

/** Usage a stream has reported so far; `final` once nothing more will come (the last usage event arrived). */
export interface StreamUsage {
  readonly usage: TokenSplit;
  readonly final: boolean;
}

/** How one API dialect reports a call's usage, in a whole answer and along a stream. */
export interface UsageReader {
  /** The usage of a whole (not streamed) answer; null when it carries none. */
  answer(payload: unknown): TokenSplit | null;
  /** The usage after one stream event, given what earlier events reported. */
  event(payload: unknown, seen: StreamUsage | null): StreamUsage | null;
  /** The text (or tool-call arguments) an event adds: how far a stream has got when it reports no usage. */
  generated(payload: unknown): string;
}

export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** A token count field: a non-negative integer, else absent (a malformed detail must not void the whole usage). */
export function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/**
 * OpenAI's usage objects. chat/completions and completions: prompt_tokens + completion_tokens, cached input in
 * prompt_tokens_details.cached_tokens (LiteLLM adds cache_creation_input_tokens for Anthropic models); the
 * embeddings answer has no completion_tokens; responses: input_tokens + output_tokens with
 * input_tokens_details.cached_tokens. Reasoning tokens are already inside completion / output tokens.
 */
export function readOpenAiUsage(value: unknown): TokenSplit | null {
  if (!isRecord(value)) return null;
  const chatPrompt = count(value.prompt_tokens);
  if (chatPrompt !== undefined) {
    const details = isRecord(value.prompt_tokens_details) ? value.prompt_tokens_details : {};
    return withCache(chatPrompt, count(value.completion_tokens) ?? 0, count(details.cached_tokens), count(value.cache_creation_input_tokens));
  }
  const input = count(value.input_tokens);
  if (input !== undefined) {
    const details = isRecord(value.input_tokens_details) ? value.input_tokens_details : {};
    return withCache(input, count(value.output_tokens) ?? 0, count(details.cached_tokens), undefined);
  }
  return null;
}

function withCache(prompt: number, completion: number, cacheRead: number | undefined, cacheWrite: number | undefined): TokenSplit {
  return {
    prompt,
    completion,
    ...(cacheRead ? { cacheRead: Math.min(cacheRead, prompt) } : {}),
    ...(cacheWrite ? { cacheWrite: Math.min(cacheWrite, prompt - Math.min(cacheRead ?? 0, prompt)) } : {}),
  };
}

/** Usage inside an OpenAI answer or stream event: top-level `usage` or the Responses API's `response.usage`. */
function openAiUsageOf(payload: unknown): TokenSplit | null {
  if (!isRecord(payload)) return null;
  const response = isRecord(payload.response) ? payload.response : {};
  return readOpenAiUsage(payload.usage) ?? readOpenAiUsage(response.usage);
}

export const openAiUsage: UsageReader = {
  answer: openAiUsageOf,
  // OpenAI-style streams report usage once, at the end (chat's usage chunk, the Responses API's completed event).
  event: (payload, seen) => {
    const usage = openAiUsageOf(payload);
    return usage ? { usage, final: true } : seen;
  },
  generated: (payload) => {
    if (!isRecord(payload)) return "";
    if (payload.type === "response.output_text.delta" && typeof payload.delta === "string") return payload.delta;
    let text = "";
    const choices = Array.isArray(payload.choices) ? payload.choices : [];
    for (const choice of choices as Array<{ delta?: { content?: unknown; tool_calls?: unknown }; text?: unknown } | null>) {
      if (typeof choice?.delta?.content === "string") text += choice.delta.content;
      if (choice?.delta?.tool_calls !== undefined) text += JSON.stringify(choice.delta.tool_calls);
      if (typeof choice?.text === "string") text += choice.text;
    }
    return text;
  },
};
