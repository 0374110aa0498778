import { MAX_COMPLETION_TOKENS, type LengthControls } from "./tokens";

/**
 * Request headers that let tests and benchmarks steer the mock (the gateway passes them through):
 *
 * - `x-mock-latency-ms: N`: wait N ms before answering (at most 60 s).
 * - `x-mock-chunk-delay-ms: N`: wait N ms before each streamed event (at most 60 s).
 * - `x-mock-status: N`: answer with this 4xx/5xx status and an OpenAI error body (429 adds `retry-after: 1`);
 *   on /v1/messages routes Anthropic's envelope and error types instead (e.g. 529 overloaded_error).
 * - `x-mock-stream-truncate-after: N`: end a stream after N content chunks (Anthropic: text deltas), with no
 *   finish, usage or [DONE] (Anthropic: no content_block_stop, message_delta or message_stop).
 * - `x-mock-omit-usage: true`: leave usage out of the answer and the stream.
 * - `x-mock-response-cost: X`: echo X as LiteLLM's `x-litellm-response-cost`.
 * - `x-mock-completion-tokens: N`: generate exactly N tokens, ignoring max_tokens / max_completion_tokens /
 *   max_output_tokens (finish_reason "length" if that reaches the cap, else "stop"), so a test can pin an
 *   exact length or simulate an upstream that writes past its reservation (at most 100,000).
 * - `x-mock-length-median: N`: median of the natural answer length instead of 300 (e.g. for benchmarks).
 * - `x-mock-cache-read-tokens: N` and `x-mock-cache-write-tokens: M` (Anthropic /v1/messages only): report
 *   exactly this prompt caching instead of simulating it: N as cache_read_input_tokens (clamped to the prompt),
 *   M as cache_creation_input_tokens (clamped to the rest; in the 1h bucket if the request's last breakpoint
 *   asks for ttl "1h", else 5m), both taken out of input_tokens. Either header alone sets the other to 0, and
 *   the simulated cache is neither read nor written. Without them the mock caches like Anthropic (cache-plan.ts).
 *
 * Without `x-mock-completion-tokens` the answer has its natural length, capped by the request's cap:
 * deterministic from a hash of the prompt, log-normal (median 300 tokens, long tail); see planCompletion.
 */
export interface MockControls extends LengthControls {
  latencyMs: number;
  chunkDelayMs: number;
  status: number | null;
  truncateAfter: number | null;
  omitUsage: boolean;
  responseCost: string | null;
  cacheReadTokens: number | null;
  cacheWriteTokens: number | null;
}

const MAX_DELAY_MS = 60_000;

function nonNegativeInt(raw: string | null): number | null {
  if (raw === null) return null;
  const trimmed = raw.trim();
  if (!/^\d+$/.test(trimmed)) return null;
  return Number(trimmed);
}

function delay(raw: string | null): number {
  const value = nonNegativeInt(raw);
  // Clamped so a typo cannot park a worker longer than a minute.
  return value === null ? 0 : Math.min(value, MAX_DELAY_MS);
}

function faultStatus(raw: string | null): number | null {
  const value = nonNegativeInt(raw);
  // Only error statuses: a "fault" of 200 would silently bypass the handler.
  return value !== null && value >= 400 && value <= 599 ? value : null;
}

function responseCost(raw: string | null): string | null {
  if (raw === null) return null;
  const trimmed = raw.trim();
  // Echo verbatim (like LiteLLM) but only if a consumer could parse it as a number.
  return trimmed !== "" && Number.isFinite(Number(trimmed)) ? trimmed : null;
}

function tokenCount(raw: string | null): number | null {
  const value = nonNegativeInt(raw);
  return value === null ? null : Math.min(value, MAX_COMPLETION_TOKENS);
}

export function parseMockControls(headers: Headers): MockControls {
  const omit = headers.get("x-mock-omit-usage")?.trim().toLowerCase();
  return {
    latencyMs: delay(headers.get("x-mock-latency-ms")),
    chunkDelayMs: delay(headers.get("x-mock-chunk-delay-ms")),
    status: faultStatus(headers.get("x-mock-status")),
    truncateAfter: nonNegativeInt(headers.get("x-mock-stream-truncate-after")),
    omitUsage: omit === "true" || omit === "1",
    responseCost: responseCost(headers.get("x-mock-response-cost")),
    completionTokens: tokenCount(headers.get("x-mock-completion-tokens")),
    lengthMedian: tokenCount(headers.get("x-mock-length-median")),
    // Not capped like lengths: they are clamped to the prompt's own count, which may exceed any fixed cap.
    cacheReadTokens: nonNegativeInt(headers.get("x-mock-cache-read-tokens")),
    cacheWriteTokens: nonNegativeInt(headers.get("x-mock-cache-write-tokens")),
  };
}

/** Headers added to every successful mock response. */
export function successHeaders(controls: MockControls): Headers {
  const headers = new Headers();
  if (controls.responseCost !== null) headers.set("x-litellm-response-cost", controls.responseCost);
  return headers;
}
