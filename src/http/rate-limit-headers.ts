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
