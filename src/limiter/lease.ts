import { budgetFor, budgetLimitFor, ownModelLimits } from "./scopes";
import { outputEstimate, promptEstimate } from "./estimates";
import { advance, release, settle, type Settlement, type TokenSplit, type Usage } from "./limiter";
import type { Limits, ReservationPolicy } from "./limits";
import { budgetEntry, leaseEntry, modelScope, reservationEntry, slotsInUse, WHOLE, windowEntry, type Lease, type LimiterState, type Reservation } from "./state";
import { adjust, bucketTime, charge, usage, type Window } from "./window";

/**
 * Leases, the owner's side. A front door that sees steady traffic for an owner borrows a slice of its free
 * capacity (tokens, requests, parallel slots, money) for a short time and admits calls against it locally, with
 * no round trip. The slice is held exactly like an in-flight call, so every limit still holds in every window.
 *
 * Sizing rule, and why it cannot starve anyone: a lease gets at most what the front door asks for (its observed
 * rate over the lease's length, with headroom) and at most `share` of the free room of every limited dimension,
 * so after any grant at least (1 - share) of the free room stays with the object for everyone else. When the free
 * room of any dimension is below `minFree` of its limit, or calls are waiting in the owner's queue, no lease is
 * granted: the last part of the window is admitted call by call at the object, exactly and fairly.
 */

/** What a front door would like to borrow, from its own observed traffic. */
export interface LeaseWant {
  readonly leaseId: string;
  readonly model: string;
  readonly tokens: number;
  readonly requests: number;
  readonly slots: number;
  readonly cost: number;
  /** A lease smaller than one typical call is not worth having: refused instead. */
  readonly minTokens: number;
  readonly minCost: number;
  /** How long the front door would like it (longer when its round trips are slow); the owner caps it. */
  readonly durationMs?: number;
}

/** The owner's lease settings (LEASE_MS, LEASE_MIN_FREE, LEASE_SHARE). */
export interface LeaseTerms {
  readonly durationMs: number;
  /** Below this fraction of a limit left free, no lease is granted. */
  readonly minFree: number;
  /** Most of the free room one lease may take. */
  readonly share: number;
}

/** What a front door needs to size a call the way this owner would, without asking it. */
export interface LeaseSizing {
  readonly policy: ReservationPolicy;
  /** Inexact prompt bounds are multiplied by this (adaptive: the owner's learned calibration; strict: 1). */
  readonly promptRatio: number;
  /** Adaptive, once learned: the output a call reserves when its cap is higher. null: the cap. */
  readonly output: number | null;
  readonly defaultOutputTokens: number;
  /** The tightest token limit over the lease's windows (null: none): bounds the output of calls with no cap. */
  readonly tightestTpm: number | null;
}

export type LeaseGrant =
  | { readonly ok: true; readonly lease: Lease; readonly sizing: LeaseSizing }
  | { readonly ok: false; readonly reason: "not_leasable" | "near_limit" };

/** Ways of counting that a lease cannot reproduce locally: such owners admit every call themselves. */
function leasable(limits: Limits): boolean {
  return (limits.inputTpm ?? null) === null && (limits.outputTpm ?? null) === null && limits.keepReservation !== true;
}

/** Lends part of the owner's free room, or says why not. Never more than `share` of what is free, in any dimension. */
export function grantLease(state: LimiterState, limits: Limits, want: LeaseWant, terms: LeaseTerms, clock: number): LeaseGrant {
  const { now } = advance(state, limits, clock);
  if (!leasable(limits)) return { ok: false, reason: "not_leasable" };
  const modelLimits = ownModelLimits(limits, want.model);
  const windows = [WHOLE];
  if (modelLimits && (modelLimits.tpm !== null || modelLimits.rpm !== null)) windows.push(modelScope(want.model));
  const budgets = [WHOLE];
  if (modelLimits?.budget) budgets.push(modelScope(want.model));
  const near = { ok: false, reason: "near_limit" } as const;

  let tokens: number | null = null;
  let requests: number | null = null;
  for (const scope of windows) {
    const tpm = scope === WHOLE ? limits.tpm : (modelLimits?.tpm ?? null);
    const rpm = scope === WHOLE ? limits.rpm : (modelLimits?.rpm ?? null);
    const used = usage(state.windows.get(scope) ?? { buckets: [] });
    if (tpm !== null) {
      const lent = slice(tpm, tpm - used.tokens, want.tokens, terms);
      if (lent === null) return near;
      tokens = Math.min(tokens ?? lent, lent);
    }
    if (rpm !== null) {
      const lent = slice(rpm, rpm - used.requests, want.requests, terms);
      if (lent === null) return near;
      requests = Math.min(requests ?? lent, lent);
    }
  }
  let slots: number | null = null;
  if (limits.maxParallel !== null) {
    slots = slice(limits.maxParallel, limits.maxParallel - slotsInUse(state), want.slots, terms);
    if (slots === null) return near;
  }
  let cost: number | null = null;
  for (const scope of budgets) {
    const limit = budgetLimitFor(limits, scope);
    if (!limit || limit.max === null) continue;
    const budget = budgetFor(state, limits, scope, now);
    const lent = slice(limit.max, limit.max - budget.spend - budget.reserved, want.cost, terms);
    if (lent === null) return near;
    cost = Math.min(cost ?? lent, lent);
  }
  if ((tokens !== null && tokens < Math.max(1, want.minTokens)) || (cost !== null && cost < want.minCost) || requests === 0 || slots === 0) return near;

  const lease: Lease = {
    leaseId: want.leaseId,
    model: want.model,
    grantedAt: now,
    bucket: bucketTime(now, limits.windowMs),
    // A lease must end long before its bucket leaves the window, so returning it can always find it there.
    expiresAt: now + Math.min(terms.durationMs, Math.floor(limits.windowMs / 4)),
    tokens,
    requests,
    slots,
    cost,
    windows,
    budgets,
  };
  for (const scope of windows) {
    charge(windowOf(state, scope), lease.bucket, tokens ?? 0, requests ?? 0);
    state.changed.add(windowEntry(scope, lease.bucket));
  }
  for (const scope of budgets) {
    budgetFor(state, limits, scope, now).reserved += cost ?? 0;
    state.changed.add(budgetEntry(scope));
  }
  state.leases.set(lease.leaseId, lease);
  state.changed.add(leaseEntry(lease.leaseId));
  return { ok: true, lease, sizing: leaseSizing(state, limits, want.model, windows) };
}

/** Lends min(wanted, share of free room); null when the free room is below minFree of the limit. */
function slice(limit: number, free: number, wanted: number, terms: LeaseTerms): number | null {
  if (free <= 0 || free < terms.minFree * limit) return null;
  return Math.max(0, Math.min(Math.floor(wanted), Math.floor(terms.share * free)));
}

function windowOf(state: LimiterState, scope: string): Window {
  let window = state.windows.get(scope);
  if (!window) state.windows.set(scope, (window = { buckets: [] }));
  return window;
}

/** Scale used to express the learned prompt calibration as a ratio. */
const RATIO_SCALE = 1_000_000;

function leaseSizing(state: LimiterState, limits: Limits, model: string, windows: readonly string[]): LeaseSizing {
  const modelLimits = ownModelLimits(limits, model);
  const tpms = windows.map((scope) => (scope === WHOLE ? limits.tpm : (modelLimits?.tpm ?? null))).filter((tpm): tpm is number => tpm !== null);
  const tightestTpm = tpms.length > 0 ? Math.min(...tpms) : null;
  if (limits.policy === "strict") return { policy: "strict", promptRatio: 1, output: null, defaultOutputTokens: limits.defaultOutputTokens, tightestTpm };
  const learned = outputEstimate(state.estimates, model, null, limits.defaultOutputTokens);
  return {
    policy: "adaptive",
    promptRatio: promptEstimate(state.estimates, model, RATIO_SCALE).tokens / RATIO_SCALE,
    output: learned.learned ? learned.tokens : null,
    defaultOutputTokens: limits.defaultOutputTokens,
    tightestTpm,
  };
}

/** One call a front door admitted under a lease, as it reports it back. */
export interface LeasedCall {
  readonly requestId: string;
  readonly admittedAt: number;
  /** What the call reserved: tokens (prompt and output), of which the prompt, and money at its worst case. */
  readonly tokens: number;
  readonly promptTokens: number;
  readonly promptBound: number;
  readonly promptExact: boolean;
  readonly cost: number;
  readonly endUser?: string | null;
  /** How it ended (used null: nothing was consumed). Absent while it is still in flight. */
  readonly ended?: { readonly used: Usage | null; readonly split?: TokenSplit; readonly at: number };
}

/**
 * A front door gives a lease back with the calls it admitted under it. The lease's hold leaves the windows and the
 * budget; each call is counted in the window bucket of its own admission instant (never before the lease was
 * granted, never after now), so windows count every call exactly as if the owner had admitted it itself. Ended
 * calls settle (and teach the owner's estimates); calls still in flight become ordinary reservations here, ended
 * later by `settle` / `release` or by their own deadline. `found` is false when the lease had already ended
 * (expired and charged in full): the report is then ignored, as the full charge covers every call in it.
 */
export function closeLease(state: LimiterState, limits: Limits, leaseId: string, calls: readonly LeasedCall[], clock: number): { found: boolean; settlements: Settlement[] } {
  const { now } = advance(state, limits, clock);
  const lease = state.leases.get(leaseId);
  if (!lease) return { found: false, settlements: [] };
  for (const scope of lease.windows) {
    const window = state.windows.get(scope);
    if (window && adjust(window, lease.bucket, -(lease.tokens ?? 0), -(lease.requests ?? 0))) state.changed.add(windowEntry(scope, lease.bucket));
  }
  for (const scope of lease.budgets) {
    const budget = budgetFor(state, limits, scope, now);
    budget.reserved = Math.max(0, budget.reserved - (lease.cost ?? 0));
    state.changed.add(budgetEntry(scope));
  }
  state.leases.delete(leaseId);
  state.changed.add(leaseEntry(leaseId));

  const settlements: Settlement[] = [];
  const seen = new Set<string>();
  for (const call of calls) {
    // A call reported twice, or already a reservation here, is counted once.
    if (seen.has(call.requestId) || state.reservations.has(call.requestId)) continue;
    seen.add(call.requestId);
    const admittedAt = Math.min(now, Math.max(lease.grantedAt, call.admittedAt));
    const reservation: Reservation = {
      requestId: call.requestId,
      model: lease.model,
      admittedAt,
      bucket: bucketTime(admittedAt, limits.windowMs),
      tokens: call.tokens,
      promptTokens: Math.min(call.promptTokens, call.tokens),
      cost: call.cost,
      ...(call.endUser ? { endUser: call.endUser } : {}),
      // Never already due (a deadline shorter than the lease): an ended call settles from its real usage, not its estimate.
      expiresAt: Math.max(now + 1, admittedAt + limits.reservationTtlMs),
      windows: lease.windows,
      budgets: lease.budgets,
      promptBound: call.promptBound,
      promptExact: call.promptExact,
    };
    for (const scope of reservation.windows) {
      charge(windowOf(state, scope), reservation.bucket, reservation.tokens, 1);
      state.changed.add(windowEntry(scope, reservation.bucket));
    }
    for (const scope of reservation.budgets) {
      budgetFor(state, limits, scope, now).reserved += reservation.cost;
      state.changed.add(budgetEntry(scope));
    }
    state.reservations.set(reservation.requestId, reservation);
    state.changed.add(reservationEntry(reservation.requestId));
    const ended = call.ended;
    if (!ended) continue;
    const done = ended.used ? settle(state, limits, call.requestId, ended.used, now, ended.split, ended.at) : release(state, limits, call.requestId, now);
    if (done) settlements.push(done);
  }
  return { found: true, settlements };
}
