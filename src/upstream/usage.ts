import { completionUsageSchema, responsesUsageSchema } from "../schemas/openai";

/** Real token usage of one call, whatever shape the endpoint reports it in. */
export interface TokenUsage {
  readonly prompt: number;
  readonly completion: number;
}

/**
 * chat/completions and completions: prompt_tokens + completion_tokens; embeddings: prompt_tokens only;
 * responses: input_tokens + output_tokens. null when the object carries no usable usage.
 */
export function readUsage(value: unknown): TokenUsage | null {
  const chat = completionUsageSchema.safeParse(value);
  if (chat.success) return { prompt: chat.data.prompt_tokens, completion: chat.data.completion_tokens ?? 0 };
  const responses = responsesUsageSchema.safeParse(value);
  if (responses.success) return { prompt: responses.data.input_tokens, completion: responses.data.output_tokens ?? 0 };
  return null;
}

/** Usage inside a response body or a stream event: top-level `usage` or the Responses API's `response.usage`. */
export function usageOf(payload: unknown): TokenUsage | null {
  if (typeof payload !== "object" || payload === null) return null;
  const record = payload as { usage?: unknown; response?: { usage?: unknown } };
  return readUsage(record.usage) ?? readUsage(record.response?.usage);
}
