import { nanosToUsd, type Rejection, type Snapshot } from "../limiter";
import type { KeyRefusal } from "../objects/key-object";
import { formatDuration } from "./duration-format";
import { ApiError, badRequest } from "./errors";
import { rateLimitHeaders } from "./rate-limit-headers";

export type Scope = "key" | "team" | "deployment";

const CODES = {
  requests: "rpm_limit_exceeded",
  tokens: "tpm_limit_exceeded",
  parallel_requests: "max_parallel_requests_exceeded",
  budget: "budget_exceeded",
} as const;

const SETTINGS = {
  requests: ["rpm_limit", "model_rpm_limit", "requests per window"],
  tokens: ["tpm_limit", "model_tpm_limit", "tokens per window"],
  parallel_requests: ["max_parallel_requests", "max_parallel_requests", "parallel requests"],
  budget: ["max_budget", "model_max_budget", "budget (USD)"],
} as const;

/**
 * Clients told to wait longer than this are better told not to retry: SDKs cap their own waits near a minute.
 * The extra second covers bucket rounding, so a 60 s window's refusal (up to 60.1 s) still says "retry".
 */
const RETRY_HORIZON_MS = 61_000;

/**
 * The 429 for a limit that tripped: which limit, its value, what remains, and exactly when this request would
 * fit, in the headers SDKs obey (retry-after-ms first) and in `error.limit` for people and dashboards.
 */
export function limitError(scope: Scope, rejection: Rejection, snapshot: Snapshot | null): ApiError {
  const [setting, modelSetting, unit] = SETTINGS[rejection.name];
  const name = rejection.model === null ? setting : modelSetting;
  const money = rejection.name === "budget";
  const show = (amount: number) => (money ? nanosToUsd(amount) : amount);
  const owner = rejection.model === null ? scope : `${scope} for model '${rejection.model}'`;

  if (rejection.reason === "price_unknown") {
    return badRequest(
      "model_price_unknown",
      `No price is known for this model and the ${owner} has a budget, so its cost cannot be reserved. ` +
        `Add it to MODEL_PRICES (or a "*" fallback price).`,
      "model",
    );
  }
  const wait = rejection.retryAfterMs === null ? null : Math.max(1, Math.ceil(rejection.retryAfterMs));
  const headers: Record<string, string> = snapshot && scope === "key" ? rateLimitHeaders(snapshot) : {};
  const retryable = wait !== null && wait <= RETRY_HORIZON_MS;
  headers["x-should-retry"] = String(retryable);
  if (wait !== null) {
    headers["retry-after"] = String(Math.ceil(wait / 1000));
    headers["retry-after-ms"] = String(wait);
  }
  const tooLarge = rejection.reason === "too_large";
  const message = tooLarge
    ? `This request alone needs ${show(rejection.requested)} but the ${owner} ${name} is ${show(rejection.limit)} ${unit}; it can never be admitted. Lower max_tokens or the input, or raise the limit.`
    : `${money ? "Budget exceeded" : "Rate limit exceeded"} for ${owner}: ${name} is ${show(rejection.limit)} ${unit}, ` +
      `${show(rejection.remaining)} remaining, this request needs ${show(rejection.requested)}; ` +
      (wait === null ? "it will not free up on its own." : `enough frees in ${formatDuration(wait)}.`);
  return new ApiError(429, money ? "budget_exceeded" : "rate_limit_error", tooLarge ? "request_exceeds_limit" : CODES[rejection.name], message, {
    headers,
    details: {
      limit: {
        scope,
        name,
        model: rejection.model,
        limit: show(rejection.limit),
        remaining: show(rejection.remaining),
        requested: show(rejection.requested),
        resets_in_ms: wait,
      },
    },
  });
}

/** A key that may not call at all: unknown or expired (401), blocked or model not allowed (403). */
export function refusalError({ status, code, message }: KeyRefusal): ApiError {
  return new ApiError(status, status === 401 ? "authentication_error" : "permission_error", code, message);
}
