import { nanosToUsd, type Snapshot } from "../limiter";
import { formatDuration } from "./duration-format";

/**
 * OpenAI's x-ratelimit-* headers for the key's own window, plus LiteLLM's key headers. A dimension without a
 * limit gets no headers: there is no honest "remaining" for it.
 */
export function rateLimitHeaders(snapshot: Snapshot): Record<string, string> {
  const headers: Record<string, string> = {};
  const { window, budget } = snapshot;
  if (window.requestsLimit !== null) {
    headers["x-ratelimit-limit-requests"] = String(window.requestsLimit);
    headers["x-ratelimit-remaining-requests"] = String(Math.max(0, window.requestsLimit - window.requests));
    headers["x-ratelimit-reset-requests"] = formatDuration(window.requestsResetMs);
    headers["x-litellm-key-rpm-limit"] = String(window.requestsLimit);
  }
  if (window.tokensLimit !== null) {
    headers["x-ratelimit-limit-tokens"] = String(window.tokensLimit);
    headers["x-ratelimit-remaining-tokens"] = String(Math.max(0, window.tokensLimit - window.tokens));
    headers["x-ratelimit-reset-tokens"] = formatDuration(window.tokensResetMs);
    headers["x-litellm-key-tpm-limit"] = String(window.tokensLimit);
  }
  if (budget.max !== null) {
    headers["x-litellm-key-spend"] = String(nanosToUsd(budget.spend));
    headers["x-litellm-key-max-budget"] = String(nanosToUsd(budget.max));
  }
  return headers;
}

/**
 * Anthropic's anthropic-ratelimit-* headers from the same snapshot, resets as RFC 3339 instants. A key has one
 * token limit for input and output together, so the input-tokens and output-tokens headers show that same
 * window: either kind of token uses it up.
 */
export function anthropicRateLimitHeaders(snapshot: Snapshot): Record<string, string> {
  const headers: Record<string, string> = {};
  const { window, at } = snapshot;
  const set = (kind: string, limit: number, used: number, resetMs: number) => {
    headers[`anthropic-ratelimit-${kind}-limit`] = String(limit);
    headers[`anthropic-ratelimit-${kind}-remaining`] = String(Math.max(0, limit - used));
    headers[`anthropic-ratelimit-${kind}-reset`] = new Date(at + resetMs).toISOString().replace(/\.\d{3}Z$/, "Z");
  };
  if (window.requestsLimit !== null) set("requests", window.requestsLimit, window.requests, window.requestsResetMs);
  if (window.tokensLimit !== null) {
    for (const kind of ["tokens", "input-tokens", "output-tokens"]) set(kind, window.tokensLimit, window.tokens, window.tokensResetMs);
  }
  return headers;
}
