import { addSpend, rollOver } from "./budget";
import { learn } from "./estimates";
import { UNLIMITED_BUDGET, type Limits } from "./limits";
import type { Rejection } from "./rejections";
import { budgetLimitFor } from "./scopes";
import { budgetEntry, metaEntry, reservationEntry, windowEntry, type LimiterState, type Reservation } from "./state";
import { adjust, prune } from "./window";

export interface Price {
  /** Nano-dollars per token; may be fractional. */
  readonly input: number;
  readonly output: number;
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
}

export interface Usage {
  readonly tokens: number;
  readonly cost: number;
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
  const due = [...state.reservations.values()].filter((reservation) => reservation.expiresAt <= at);
  due.sort((a, b) => a.expiresAt - b.expiresAt);
  for (const reservation of due) {
    rollBudgets(state, limits, reservation.expiresAt, true);
    expired.push(finish(state, limits, reservation, "expired", reservation, at));
  }
  rollBudgets(state, limits, at, false);
  for (const [scope, window] of state.windows) {
    for (const time of prune(window, at, limits.windowMs)) state.changed.add(windowEntry(scope, time));
    if (window.buckets.length === 0) state.windows.delete(scope);
  }
  return { now: at, expired };
}

function rollBudgets(state: LimiterState, limits: Limits, at: number, scheduledOnly: boolean): void {
  for (const [scope, budget] of state.budgets) {
    if (scheduledOnly && budget.resetAt === null) continue;
    const limit = budgetLimitFor(limits, scope);
    if (limit && rollOver(budget, limit, at)) state.changed.add(budgetEntry(scope));
  }
}

/** How a call's tokens split, as the upstream reported them: what the owner learns its estimates from. */
export interface TokenSplit {
  readonly prompt: number;
  readonly completion: number;
}

/**
 * Replaces a reservation with what the call really used, and learns from it (duration; with `split`, output
 * length and how the prompt's bound compares to its real count). null when it already ended (exactly-once).
 */
export function settle(state: LimiterState, limits: Limits, requestId: string, used: Usage, clock: number, split?: TokenSplit): Settlement | null {
  const { now } = advance(state, limits, clock);
  const reservation = state.reservations.get(requestId);
  if (!reservation) return null;
  const durationMs = now - reservation.admittedAt;
  state.latencyMs = state.latencyMs === 0 ? durationMs : state.latencyMs + LATENCY_SMOOTHING * (durationMs - state.latencyMs);
  state.changed.add(metaEntry()); // latencyMs is stored in the meta entry, even when the clock did not move
  const calibrate = split && !reservation.promptExact && (reservation.promptBound ?? 0) > 0;
  learn(state.estimates, reservation.model, {
    durationMs,
    ...(split ? { outputTokens: split.completion } : {}),
    ...(calibrate ? { promptRatio: split.prompt / reservation.promptBound! } : {}),
  }, now);
  return finish(state, limits, reservation, "settled", used, now);
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
    if (window && adjust(window, reservation.bucket, grown.tokens - reservation.tokens, 0)) state.changed.add(windowEntry(scope, reservation.bucket));
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

function finish(state: LimiterState, limits: Limits, reservation: Reservation, outcome: Outcome, used: Usage, now: number): Settlement {
  const requestDelta = outcome === "cancelled" ? -1 : 0;
  for (const scope of reservation.windows) {
    const window = state.windows.get(scope);
    if (window && adjust(window, reservation.bucket, used.tokens - reservation.tokens, requestDelta)) {
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
  return { reservation, outcome, tokens: used.tokens, cost: used.cost, at: now };
}

export function costOf(price: Price, inputTokens: number, outputTokens: number): number {
  return Math.ceil(price.input * inputTokens + price.output * outputTokens);
}

export type { Rejection };

