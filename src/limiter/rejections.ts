import { remaining, type Budget, type BudgetLimit } from "./budget";
import type { LimiterState, Reservation } from "./state";

/** input_tokens and output_tokens are the separate input and output limits (Anthropic's ITPM and OTPM). */
export type LimitName = "requests" | "tokens" | "input_tokens" | "output_tokens" | "parallel_requests" | "budget" | "queue";

export interface Rejection {
  readonly name: LimitName;
  /**
   * "limit": over the limit now; "too_large": this request alone exceeds it; "price_unknown": cannot cost it;
   * "queue_full": it may wait, but the owner's queue is full.
   */
  readonly reason: "limit" | "too_large" | "price_unknown" | "queue_full";
  /** The model whose per-model limit tripped, or null for the owner's own limit. */
  readonly model: string | null;
  readonly limit: number;
  readonly remaining: number;
  readonly requested: number;
  /** Time until this request would fit; null when waiting will not help. */
  readonly retryAfterMs: number | null;
  /**
   * Set when calls still in flight hold the capacity this request needs (their reservations, not usage that
   * has happened): capacity frees as they finish, sooner than the window would drain.
   */
  readonly inFlight?: { readonly calls: number; readonly tokens: number };
}

/** Floor for the "a parallel slot frees in ..." hint when there is no latency history yet. */
const MIN_HINT_MS = 10;

export function windowRejection(
  name: "requests" | "tokens" | "input_tokens" | "output_tokens",
  model: string | null,
  limit: number,
  used: number,
  requested: number,
  wait: number | null,
): Rejection {
  return { name, reason: wait === null ? "too_large" : "limit", model, limit, remaining: Math.max(0, limit - used), requested, retryAfterMs: wait };
}

export function budgetRejection(state: LimiterState, budget: Budget, limit: BudgetLimit, model: string | null, cost: number, now: number): Rejection {
  const max = limit.max ?? 0;
  let retryAfterMs: number | null = null;
  let reason: Rejection["reason"] = "limit";
  if (cost > max) reason = "too_large";
  else if (budget.spend + cost <= max) retryAfterMs = parallelHint(state, now); // only in-flight reservations block
  else if (budget.resetAt !== null) retryAfterMs = Math.max(0, budget.resetAt - now);
  return { name: "budget", reason, model, limit: max, remaining: remaining(budget, limit), requested: cost, retryAfterMs };
}

/**
 * When the oldest in-flight call is expected to end, from the history of call durations (`typicalMs`, the
 * smoothed admission-to-settlement time when no better figure is given); never past its reservation deadline.
 */
export function parallelHint(state: LimiterState, now: number, typicalMs: number = state.latencyMs): number {
  let oldest: Reservation | undefined;
  for (const reservation of state.reservations.values()) {
    if (!oldest || reservation.admittedAt < oldest.admittedAt) oldest = reservation;
  }
  if (!oldest) return MIN_HINT_MS;
  const expected = Math.round(typicalMs - (now - oldest.admittedAt));
  return Math.min(Math.max(MIN_HINT_MS, expected), Math.max(MIN_HINT_MS, oldest.expiresAt - now));
}

/** The rejection to report is the one the client must wait longest for; "never" beats any wait. */
export function pickWorst(rejections: Rejection[]): Rejection | undefined {
  let worst: Rejection | undefined;
  for (const candidate of rejections) {
    if (!worst) worst = candidate;
    else if (worst.retryAfterMs === null) continue;
    else if (candidate.retryAfterMs === null || candidate.retryAfterMs > worst.retryAfterMs) worst = candidate;
  }
  return worst;
}
