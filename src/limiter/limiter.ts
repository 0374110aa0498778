import { addSpend, rollOver } from "./budget";
import { learn } from "./estimates";
import { UNLIMITED_BUDGET, type Limits } from "./limits";
import type { Rejection } from "./rejections";
import { budgetLimitFor } from "./scopes";
import { heldIn, usedIn } from "./portions";
import { budgetEntry, leaseEntry, metaEntry, reservationEntry, windowEntry, type Lease, type LimiterState, type Reservation } from "./state";
import { adjust, bucketTime, charge, prune } from "./window";

export interface Price {
  /** Nano-dollars per token; may be fractional. */
  readonly input: number;
  readonly output: number;
  /** Cached prompt tokens read (Anthropic cache reads, OpenAI cached_tokens); absent = the input price. */
  readonly cacheRead?: number;
  /** Prompt tokens written to the cache (Anthropic's 5-minute writes); absent = the input price. */
  readonly cacheWrite?: number;
  /** Anthropic's 1-hour cache writes; absent = cacheWrite. */
  readonly cacheWrite1h?: number;
}

export interface AdmissionRequest {
  readonly requestId: string;
  readonly model: string;
  /** Upper bound of the prompt's tokens: an exact count where the tokenizer is known, else the byte bound. */
  readonly promptTokens: number;
  /** promptTokens is the tokenizer's count (plus a safe bound for tool schemas), not the byte bound. */
  readonly promptExact?: boolean;
  /** Tokens the prompt has at least; decides whether a request can never fit. Default: 0, or the exact count. */
  readonly promptLowerBound?: number;
  /** The client's output cap (max_tokens / max_completion_tokens), or null when it set none. */
  readonly maxOutputTokens: number | null;
  /** null when the model has no known price. */
  readonly price: Price | null;
  /** The prompt may be written to a prompt cache (it marks cache_control): its money is reserved at the write price. */
  readonly cacheWrites?: boolean;
  /** The end user the call is for; kept on the reservation so the spend log can name it. */
  readonly endUser?: string | null;
}

export type Admission =
  | { readonly ok: true; readonly reservation: Reservation }
  | { readonly ok: false; readonly rejection: Rejection };

export type Outcome = "settled" | "released" | "expired" | "cancelled";

/** How a reservation ended; what a spend log records. */
export interface Settlement {
  readonly reservation: Reservation;
  readonly outcome: Outcome;
  readonly tokens: number;
  readonly cost: number;
  readonly at: number;
  /** The upstream's report of the call's tokens, when it settled from one. */
  readonly split?: TokenSplit;
  readonly priceSource?: string;
  readonly queueMs?: number;
}

export interface Usage {
  readonly tokens: number;
  readonly cost: number;
  /** Where the cost's price came from (the price database, MODEL_PRICES, the upstream's own figure). */
  readonly priceSource?: string;
  /** How long the call waited for capacity before it was admitted (ms). */
  readonly queueMs?: number;
}

const LATENCY_SMOOTHING = 0.2;

/**
 * Moves the limiter to `now`: time never runs backwards, due budget resets happen, old buckets leave the
 * windows and reservations past their deadline expire (charged at their estimate). Every public operation
 * starts here, so no background job is needed for correctness.
 */
export function advance(state: LimiterState, limits: Limits, now: number): { now: number; expired: Settlement[] } {
  if (now > state.clock) {
    state.clock = now;
    state.changed.add(metaEntry());
  }
  const at = state.clock;
  const expired: Settlement[] = [];
  // Expiries are charged in deadline order to the budget period their deadline falls in: a reset due before a
  // deadline is applied first, so a late wake-up does not wipe a charge that belongs to the new period.
  const due: Array<Reservation | Lease> = [...state.reservations.values(), ...state.leases.values()].filter((held) => held.expiresAt <= at);
  due.sort((a, b) => a.expiresAt - b.expiresAt);
  for (const held of due) {
    rollBudgets(state, limits, held.expiresAt, true);
    expired.push("leaseId" in held ? chargeLease(state, limits, held, at) : finish(state, limits, held, "expired", held, at));
  }
  rollBudgets(state, limits, at, false);
  for (const [scope, window] of state.windows) {
    for (const time of prune(window, at, limits.windowMs)) state.changed.add(windowEntry(scope, time));
    if (window.buckets.length === 0) state.windows.delete(scope);
  }
  return { now: at, expired };
}

/**
 * A lease its front door never returned (it died, or lost its way to the object) is charged in full: its money
 * becomes spend, and its tokens and requests move to the bucket of its end, as a call admitted under it just before
 * it ended counts in a real sliding window until one window after that; held at the grant's bucket they would
 * leave up to a lease length too early. Whatever the front door admitted under it is covered, as every call's
 * worst cost and reserved tokens fit inside it: nothing is lost, nothing goes over.
 */
function chargeLease(state: LimiterState, limits: Limits, lease: Lease, now: number): Settlement {
  const end = bucketTime(lease.expiresAt, limits.windowMs);
  for (const scope of lease.windows) {
    const window = state.windows.get(scope);
    // A lease lasts at most a quarter window, so its hold is still in the window when it ends.
    if (!window || end === lease.bucket || !adjust(window, lease.bucket, -(lease.tokens ?? 0), -(lease.requests ?? 0))) continue;
    charge(window, end, lease.tokens ?? 0, lease.requests ?? 0);
    state.changed.add(windowEntry(scope, lease.bucket));
    state.changed.add(windowEntry(scope, end));
  }
  for (const scope of lease.budgets) {
    const budget = state.budgets.get(scope);
    if (!budget) continue;
    budget.reserved = Math.max(0, budget.reserved - (lease.cost ?? 0));
    addSpend(budget, budgetLimitFor(limits, scope) ?? UNLIMITED_BUDGET, lease.cost ?? 0, now);
    state.changed.add(budgetEntry(scope));
  }
  state.leases.delete(lease.leaseId);
  state.changed.add(leaseEntry(lease.leaseId));
  return { reservation: leaseAsReservation(lease), outcome: "expired", tokens: lease.tokens ?? 0, cost: lease.cost ?? 0, at: now };
}

/** How a lease appears in the spend ledger, whose lines are reservations that ended. */
export function leaseAsReservation(lease: Lease): Reservation {
  return {
    requestId: lease.leaseId,
    model: lease.model,
    admittedAt: lease.grantedAt,
    bucket: lease.bucket,
    tokens: lease.tokens ?? 0,
    cost: lease.cost ?? 0,
    expiresAt: lease.expiresAt,
    windows: lease.windows,
    budgets: lease.budgets,
  };
}

function rollBudgets(state: LimiterState, limits: Limits, at: number, scheduledOnly: boolean): void {
  for (const [scope, budget] of state.budgets) {
    if (scheduledOnly && budget.resetAt === null) continue;
    const limit = budgetLimitFor(limits, scope);
    if (limit && rollOver(budget, limit, at)) state.changed.add(budgetEntry(scope));
  }
}

/**
 * How a call's tokens split, as the upstream reported them: what the owner learns its estimates from, what
 * input and output windows count, and what cost is computed from. `prompt` is every prompt token, cached ones
 * included (OpenAI's prompt_tokens; Anthropic's input + cache writes + cache reads); the cache counts are parts
 * of it. Reasoning tokens are part of `completion`, as every provider bills them as output.
 */
export interface TokenSplit {
  readonly prompt: number;
  readonly completion: number;
  readonly cacheRead?: number;
  /** Every cache write, 1-hour ones included. */
  readonly cacheWrite?: number;
  /** Of cacheWrite, the writes with a 1-hour lifetime. */
  readonly cacheWrite1h?: number;
}

/**
 * Replaces a reservation with what the call really used, and learns from it (duration; with `split`, output
 * length and how the prompt's bound compares to its real count). null when it already ended (exactly-once).
 * `endedAt`: when the call ended, if earlier than now.
 */
export function settle(state: LimiterState, limits: Limits, requestId: string, used: Usage, clock: number, split?: TokenSplit, endedAt?: number): Settlement | null {
  const { now } = advance(state, limits, clock);
  const reservation = state.reservations.get(requestId);
  if (!reservation) return null;
  // A call settled later in a batch (leases) says when it really ended, so durations are learned right.
  const durationMs = Math.max(0, Math.min(now, endedAt ?? now) - reservation.admittedAt);
  state.latencyMs = state.latencyMs === 0 ? durationMs : state.latencyMs + LATENCY_SMOOTHING * (durationMs - state.latencyMs);
  state.changed.add(metaEntry()); // latencyMs is stored in the meta entry, even when the clock did not move
  const calibrate = split && !reservation.promptExact && (reservation.promptBound ?? 0) > 0;
  learn(state.estimates, reservation.model, {
    durationMs,
    ...(split ? { outputTokens: split.completion } : {}),
    ...(calibrate ? { promptRatio: split.prompt / reservation.promptBound! } : {}),
  }, now);
  return finish(state, limits, reservation, "settled", used, now, split);
}

/**
 * Grows a live reservation while its call is still generating (a stream past its estimate): the tokens are
 * charged at once, whatever the limit, because they are being used; later admissions wait for them. Charged
 * to the reservation's own bucket, where settlement will replace them with the real total. false when the
 * reservation already ended.
 */
export function extend(state: LimiterState, limits: Limits, requestId: string, tokens: number, clock: number): boolean {
  advance(state, limits, clock);
  const reservation = state.reservations.get(requestId);
  if (!reservation || !(tokens > 0)) return false;
  const grown: Reservation = { ...reservation, tokens: reservation.tokens + Math.ceil(tokens) };
  for (const scope of reservation.windows) {
    const window = state.windows.get(scope);
    const delta = heldIn(scope, grown) - heldIn(scope, reservation);
    if (window && delta !== 0 && adjust(window, reservation.bucket, delta, 0)) state.changed.add(windowEntry(scope, reservation.bucket));
  }
  state.reservations.set(requestId, grown);
  state.changed.add(reservationEntry(requestId));
  return true;
}

/** The upstream consumed nothing: tokens and money go back, the request still counts as admitted. */
export function release(state: LimiterState, limits: Limits, requestId: string, clock: number): Settlement | null {
  const { now } = advance(state, limits, clock);
  const reservation = state.reservations.get(requestId);
  return reservation ? finish(state, limits, reservation, "released", { tokens: 0, cost: 0 }, now) : null;
}

/** Undoes an admission entirely, e.g. when another limiter on the same request refused it. */
export function cancel(state: LimiterState, limits: Limits, requestId: string, clock: number): Settlement | null {
  const { now } = advance(state, limits, clock);
  const reservation = state.reservations.get(requestId);
  return reservation ? finish(state, limits, reservation, "cancelled", { tokens: 0, cost: 0 }, now) : null;
}

function finish(state: LimiterState, limits: Limits, reservation: Reservation, outcome: Outcome, used: Usage, now: number, split?: TokenSplit): Settlement {
  const requestDelta = outcome === "cancelled" ? -1 : 0;
  // A provider that counts at request time keeps what the call reserved once the call reached it.
  const keep = limits.keepReservation === true && (outcome === "settled" || outcome === "expired");
  for (const scope of reservation.windows) {
    const window = state.windows.get(scope);
    const held = heldIn(scope, reservation);
    const counted = usedIn(scope, reservation, { tokens: used.tokens, ...split }, limits);
    if (window && adjust(window, reservation.bucket, (keep ? Math.max(held, counted) : counted) - held, requestDelta)) {
      state.changed.add(windowEntry(scope, reservation.bucket));
    }
  }
  for (const scope of reservation.budgets) {
    const budget = state.budgets.get(scope);
    if (!budget) continue;
    budget.reserved = Math.max(0, budget.reserved - reservation.cost);
    addSpend(budget, budgetLimitFor(limits, scope) ?? UNLIMITED_BUDGET, used.cost, now);
    state.changed.add(budgetEntry(scope));
  }
  state.reservations.delete(reservation.requestId);
  state.changed.add(reservationEntry(reservation.requestId));
  return {
    reservation,
    outcome,
    tokens: used.tokens,
    cost: used.cost,
    at: now,
    ...(split ? { split } : {}),
    ...(used.priceSource !== undefined ? { priceSource: used.priceSource } : {}),
    ...(used.queueMs !== undefined ? { queueMs: used.queueMs } : {}),
  };
}

/** The cost of real usage, each kind of prompt token at its own price. */
export function costOf(price: Price, split: TokenSplit): number {
  const read = Math.min(split.cacheRead ?? 0, split.prompt);
  const written = Math.min(split.cacheWrite ?? 0, split.prompt - read);
  const written1h = Math.min(split.cacheWrite1h ?? 0, written);
  const plain = split.prompt - read - written;
  const write = price.cacheWrite ?? price.input;
  return ceilNanos(
    price.input * plain +
      (price.cacheRead ?? price.input) * read +
      write * (written - written1h) +
      (price.cacheWrite1h ?? write) * written1h +
      price.output * split.completion,
  );
}

/**
 * Rounds a nano-dollar amount up, ignoring floating-point noise (7 x 1.1 + 3 x 1.1 is 11.000000000000002): a
 * cost split into parts must never round above the same tokens priced whole, or above what was reserved.
 */
function ceilNanos(amount: number): number {
  return Math.ceil(amount - Math.abs(amount) * 1e-12);
}

/**
 * The most a call can cost: every prompt token at the dearest rate it may be billed at (a cache write, when the
 * prompt marks cache_control), plus the whole output cap. Money is reserved at this, never at an estimate.
 */
export function worstCost(price: Price, promptTokens: number, outputTokens: number, cacheWrites: boolean): number {
  const write = Math.max(price.cacheWrite ?? price.input, price.cacheWrite1h ?? price.cacheWrite ?? price.input);
  // A cache read dearer than input is no provider's price, but MODEL_PRICES may say so: the bound must hold anyway.
  const read = price.cacheRead ?? price.input;
  const perPrompt = Math.max(price.input, read, cacheWrites ? write : 0);
  return ceilNanos(perPrompt * promptTokens + price.output * outputTokens);
}

export type { Rejection };

