import type { TokenSplit } from "../limiter";
import { count, isRecord, type UsageReader } from "./usage";

/**
 * Anthropic's usage object. Its input_tokens excludes the cached parts, so the prompt is input plus cache writes
 * plus cache reads; cache_creation splits writes into 5-minute and 1-hour ones (priced differently).
 */
export function readAnthropicUsage(value: unknown): TokenSplit | null {
  if (!isRecord(value)) return null;
  const input = count(value.input_tokens);
  if (input === undefined) return null;
  const read = count(value.cache_read_input_tokens) ?? 0;
  const write = count(value.cache_creation_input_tokens) ?? 0;
  const breakdown = isRecord(value.cache_creation) ? value.cache_creation : {};
  const write1h = Math.min(count(breakdown.ephemeral_1h_input_tokens) ?? 0, write);
  return {
    prompt: input + read + write,
    completion: count(value.output_tokens) ?? 0,
    ...(read > 0 ? { cacheRead: read } : {}),
    ...(write > 0 ? { cacheWrite: write } : {}),
    ...(write1h > 0 ? { cacheWrite1h: write1h } : {}),
  };
}

/**
 * A Messages stream reports usage twice: message_start carries the input and cache counts (and a first output
 * count), message_delta the cumulative output (and, from newer API versions, cumulative input counts too). Only
 * message_delta makes it final: a stream cut before it has reported its input but not its whole output.
 */
function foldEvent(payload: unknown, seen: { usage: TokenSplit; final: boolean } | null) {
  if (!isRecord(payload)) return seen;
  if (payload.type === "message_start" && isRecord(payload.message)) {
    const usage = readAnthropicUsage(payload.message.usage);
    return usage ? { usage, final: false } : seen;
  }
  if (payload.type === "message_delta" && isRecord(payload.usage)) {
    const delta = payload.usage;
    const output = count(delta.output_tokens);
    const restated = count(delta.input_tokens) !== undefined ? readAnthropicUsage(delta) : null;
    const base = restated ?? seen?.usage ?? { prompt: 0, completion: 0 };
    return { usage: { ...base, completion: output ?? base.completion }, final: output !== undefined };
  }
  return seen;
}

export const anthropicUsage: UsageReader = {
  answer: (payload) => (isRecord(payload) ? readAnthropicUsage(payload.usage) : null),
  event: foldEvent,
  generated: (payload) => {
    if (!isRecord(payload) || payload.type !== "content_block_delta" || !isRecord(payload.delta)) return "";
    const delta = payload.delta;
    for (const field of ["text", "partial_json", "thinking"]) if (typeof delta[field] === "string") return delta[field];
    return "";
  },
};
