import { nanosToUsd, type Rejection, type Snapshot } from "../limiter";
import type { Refusal } from "../objects/protocol";
import { formatDuration } from "./duration-format";
import { ApiError, badRequest } from "./errors";
import { rateLimitHeaders } from "./rate-limit-headers";

/** The owners whose limits can refuse a call, as error.limit.scope names them. */
export const SCOPES = ["key", "team", "end_user", "deployment"] as const;
export type Scope = (typeof SCOPES)[number];

const CODES = {
  requests: "rpm_limit_exceeded",
  tokens: "tpm_limit_exceeded",
  input_tokens: "itpm_limit_exceeded",
  output_tokens: "otpm_limit_exceeded",
  parallel_requests: "max_parallel_requests_exceeded",
  budget: "budget_exceeded",
  queue: "calls_waiting",
} as const;

const SETTINGS = {
  requests: ["rpm_limit", "model_rpm_limit", "requests per window"],
  tokens: ["tpm_limit", "model_tpm_limit", "tokens per window"],
  input_tokens: ["itpm", "itpm", "input tokens per window"],
  output_tokens: ["otpm", "otpm", "output tokens per window"],
  parallel_requests: ["max_parallel_requests", "max_parallel_requests", "parallel requests"],
  budget: ["max_budget", "model_max_budget", "budget (USD)"],
  queue: ["max_wait_ms", "max_wait_ms", "calls waiting"],
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
  const who = scope === "end_user" ? "end user" : scope;
  const owner = rejection.model === null ? who : `${who} for model '${rejection.model}'`;

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
  const inFlight = rejection.inFlight;
  const frees = wait === null
    ? "it will not free up on its own."
    : inFlight
      ? `${inFlight.calls} ${inFlight.calls === 1 ? "call" : "calls"} in flight hold ${inFlight.tokens} tokens; capacity frees as they finish (expected in ${formatDuration(wait)}).`
      : `enough frees in ${formatDuration(wait)}.`;
  const queued = rejection.name === "queue";
  const queueMessage = rejection.reason === "queue_full"
    ? `The ${owner}'s queue is full (${rejection.limit} calls or its token bound); ${frees}`
    : `Calls are waiting for capacity at the ${owner} ahead of this one, which may not wait (send x-edgequota-max-wait-ms or set max_wait_ms to queue); ${frees}`;
  const message = queued ? queueMessage : tooLarge
    ? `This request alone needs ${show(rejection.requested)} but the ${owner} ${name} is ${show(rejection.limit)} ${unit}; it can never be admitted. Lower max_tokens or the input, or raise the limit.`
    : `${money ? "Budget exceeded" : "Rate limit exceeded"} for ${owner}: ${name} is ${show(rejection.limit)} ${unit}, ` +
      `${show(rejection.remaining)} remaining, this request needs ${show(rejection.requested)}; ${frees}`;
  const code = rejection.reason === "queue_full" ? "queue_full" : tooLarge ? "request_exceeds_limit" : CODES[rejection.name];
  return new ApiError(code, message, {
    type: money ? "budget_exceeded" : "rate_limit_error",
    headers,
    ...(snapshot && scope === "key" ? { snapshot } : {}),
    details: {
      limit: {
        scope,
        name,
        model: rejection.model,
        limit: show(rejection.limit),
        remaining: show(rejection.remaining),
        requested: show(rejection.requested),
        resets_in_ms: wait,
        ...(inFlight ? { in_flight: { calls: inFlight.calls, tokens: inFlight.tokens } } : {}),
      },
    },
  });
}

/** An owner that turns the call away by a rule: unknown or expired key (401), blocked or not allowed (403). */
export function refusalError({ code, message }: Refusal): ApiError {
  // team_not_found is a 404 on the team routes; met at admission, the key's team is gone: a permission matter.
  return new ApiError(code, message, code === "team_not_found" ? { status: 403, type: "permission_error" } : {});
}
