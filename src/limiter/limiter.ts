import { addSpend, fits, newBudget, remaining, rollOver, type Budget, type BudgetLimit } from "./budget";
import { UNLIMITED_BUDGET, type Limits } from "./limits";
import {
  budgetEntry,
  metaEntry,
  modelScope,
  reservationEntry,
  WHOLE,
  windowEntry,
  type LimiterState,
  type Reservation,
} from "./state";
import { adjust, bucketTime, charge, drainsIn, prune, usage, waitFor, type Window } from "./window";

export interface Price {
  /** Nano-dollars per token; may be fractional. */
  readonly input: number;
  readonly output: number;
}

export interface AdmissionRequest {
  readonly id: string;
  readonly model: string;
  /** Upper estimate of the prompt's tokens. */
  readonly promptTokens: number;
  /** The client's output cap (max_tokens / max_completion_tokens), or null when it set none. */
  readonly maxOutputTokens: number | null;
  /** null when the model has no known price. */
  readonly price: Price | null;
}

export type LimitName = "requests" | "tokens" | "parallel_requests" | "budget";

export interface Rejection {
  readonly name: LimitName;
  /** "limit": over the limit now; "too_large": this request alone exceeds it; "price_unknown": cannot cost it. */
  readonly reason: "limit" | "too_large" | "price_unknown";
  /** The model whose per-model limit tripped, or null for the owner's own limit. */
  readonly model: string | null;
  readonly limit: number;
  readonly remaining: number;
  readonly requested: number;
  /** Time until this request would fit; null when waiting will not help. */
  readonly retryAfterMs: number | null;
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

/** Floor for the "a parallel slot frees in ..." hint when there is no latency history yet. */
const MIN_PARALLEL_HINT_MS = 10;
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

/** Reserves an upper estimate for one request, or explains exactly why it cannot be admitted now. */
export function admit(state: LimiterState, limits: Limits, request: AdmissionRequest, clock: number): Admission {
  // Replacing a live reservation would strand its reserved tokens and money; ids must be unique per call.
  if (state.reservations.has(request.id)) throw new Error(`reservation ${request.id} is already in flight`);
  const { now } = advance(state, limits, clock);
  const modelLimits = ownModelLimits(limits, request.model);
  const tokenLimits = [limits.tpm, modelLimits?.tpm ?? null].filter((limit): limit is number => limit !== null);
  const tokens = request.promptTokens + outputEstimate(limits, request, tokenLimits);
  const cost = request.price ? costOf(request.price, request.promptTokens, tokens - request.promptTokens) : null;

  const windowScopes = [WHOLE];
  if (modelLimits && (modelLimits.tpm !== null || modelLimits.rpm !== null)) windowScopes.push(modelScope(request.model));
  const budgetScopes = [WHOLE];
  if (modelLimits?.budget) budgetScopes.push(modelScope(request.model));

  const rejections: Rejection[] = [];
  if (limits.maxParallel !== null && state.reservations.size + 1 > limits.maxParallel) {
    rejections.push({
      name: "parallel_requests",
      reason: limits.maxParallel === 0 ? "too_large" : "limit",
      model: null,
      limit: limits.maxParallel,
      remaining: Math.max(0, limits.maxParallel - state.reservations.size),
      requested: 1,
      retryAfterMs: limits.maxParallel === 0 ? null : parallelHint(state, now),
    });
  }
  for (const scope of windowScopes) {
    const model = scope === WHOLE ? null : request.model;
    const rpm = model === null ? limits.rpm : (modelLimits?.rpm ?? null);
    const tpm = model === null ? limits.tpm : (modelLimits?.tpm ?? null);
    const window = state.windows.get(scope) ?? { buckets: [] };
    const used = usage(window);
    if (rpm !== null) {
      const wait = waitFor(window, "requests", 1, rpm, now, limits.windowMs);
      if (wait !== 0) rejections.push(windowRejection("requests", model, rpm, used.requests, 1, wait));
    }
    if (tpm !== null) {
      const wait = waitFor(window, "tokens", tokens, tpm, now, limits.windowMs);
      if (wait !== 0) rejections.push(windowRejection("tokens", model, tpm, used.tokens, tokens, wait));
    }
  }
  for (const scope of budgetScopes) {
    const limit = budgetLimitFor(limits, scope);
    if (!limit || limit.max === null) continue;
    const model = scope === WHOLE ? null : request.model;
    const budget = budgetFor(state, limits, scope, now);
    if (cost === null) {
      rejections.push({ name: "budget", reason: "price_unknown", model, limit: limit.max, remaining: remaining(budget, limit), requested: 0, retryAfterMs: null });
    } else if (!fits(budget, limit, cost)) {
      rejections.push(budgetRejection(state, budget, limit, model, cost, now));
    }
  }
  const worst = pickWorst(rejections);
  if (worst) return { ok: false, rejection: worst };

  const reservation: Reservation = {
    id: request.id,
    model: request.model,
    admittedAt: now,
    bucket: bucketTime(now, limits.windowMs),
    tokens,
    cost: cost ?? 0,
    expiresAt: now + limits.reservationTtlMs,
    windows: windowScopes,
    budgets: budgetScopes,
  };
  for (const scope of windowScopes) {
    let window = state.windows.get(scope);
    if (!window) state.windows.set(scope, (window = { buckets: [] }));
    charge(window, reservation.bucket, tokens, 1);
    state.changed.add(windowEntry(scope, reservation.bucket));
  }
  for (const scope of budgetScopes) {
    budgetFor(state, limits, scope, now).reserved += reservation.cost;
    state.changed.add(budgetEntry(scope));
  }
  state.reservations.set(reservation.id, reservation);
  state.changed.add(reservationEntry(reservation.id));
  return { ok: true, reservation };
}

/** Replaces a reservation with what the call really used. null when it already ended (exactly-once). */
export function settle(state: LimiterState, limits: Limits, id: string, used: Usage, clock: number): Settlement | null {
  const { now } = advance(state, limits, clock);
  const reservation = state.reservations.get(id);
  if (!reservation) return null;
  state.latencyMs = state.latencyMs === 0
    ? now - reservation.admittedAt
    : state.latencyMs + LATENCY_SMOOTHING * (now - reservation.admittedAt - state.latencyMs);
  state.changed.add(metaEntry()); // latencyMs is stored in the meta entry, even when the clock did not move
  return finish(state, limits, reservation, "settled", used, now);
}

/** The upstream consumed nothing: tokens and money go back, the request still counts as admitted. */
export function release(state: LimiterState, limits: Limits, id: string, clock: number): Settlement | null {
  const { now } = advance(state, limits, clock);
  const reservation = state.reservations.get(id);
  return reservation ? finish(state, limits, reservation, "released", { tokens: 0, cost: 0 }, now) : null;
}

/** Undoes an admission entirely, e.g. when another limiter on the same request refused it. */
export function cancel(state: LimiterState, limits: Limits, id: string, clock: number): Settlement | null {
  const { now } = advance(state, limits, clock);
  const reservation = state.reservations.get(id);
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
  state.reservations.delete(reservation.id);
  state.changed.add(reservationEntry(reservation.id));
  return { reservation, outcome, tokens: used.tokens, cost: used.cost, at: now };
}

export interface WindowReport {
  readonly tokens: number;
  readonly requests: number;
  readonly tokensLimit: number | null;
  readonly requestsLimit: number | null;
  /** ms until every counted token / request has left the window. */
  readonly tokensResetMs: number;
  readonly requestsResetMs: number;
}

export interface BudgetReport {
  readonly spend: number;
  readonly reserved: number;
  readonly max: number | null;
  readonly soft: number | null;
  readonly resetAt: number | null;
  readonly softCrossedAt: number | null;
}

export interface ModelReport {
  readonly window: WindowReport | null;
  readonly budget: BudgetReport | null;
}

/** The live view that /key/info and the rate-limit headers show: the same numbers admission decides on. */
export interface Snapshot {
  readonly at: number;
  readonly windowMs: number;
  readonly window: WindowReport;
  readonly inFlight: number;
  readonly maxParallel: number | null;
  readonly reservedTokens: number;
  readonly budget: BudgetReport;
  readonly models: Record<string, ModelReport>;
}

export function snapshot(state: LimiterState, limits: Limits, clock: number): Snapshot {
  const { now } = advance(state, limits, clock);
  let reservedTokens = 0;
  for (const reservation of state.reservations.values()) reservedTokens += reservation.tokens;
  const models: Record<string, ModelReport> = {};
  for (const [model, modelLimits] of Object.entries(limits.models)) {
    const scope = modelScope(model);
    const hasWindow = modelLimits.tpm !== null || modelLimits.rpm !== null;
    models[model] = {
      window: hasWindow ? windowReport(state.windows.get(scope), modelLimits.tpm, modelLimits.rpm, now, limits.windowMs) : null,
      budget: modelLimits.budget ? budgetReport(budgetFor(state, limits, scope, now), modelLimits.budget) : null,
    };
  }
  return {
    at: now,
    windowMs: limits.windowMs,
    window: windowReport(state.windows.get(WHOLE), limits.tpm, limits.rpm, now, limits.windowMs),
    inFlight: state.reservations.size,
    maxParallel: limits.maxParallel,
    reservedTokens,
    budget: budgetReport(budgetFor(state, limits, WHOLE, now), limits.budget),
    models,
  };
}

/** When the owner must wake up on its own: the next reservation deadline or budget reset. */
export function nextWakeAt(state: LimiterState): number | null {
  let next: number | null = null;
  const consider = (at: number | null) => {
    if (at !== null && (next === null || at < next)) next = at;
  };
  for (const reservation of state.reservations.values()) consider(reservation.expiresAt);
  for (const budget of state.budgets.values()) consider(budget.resetAt);
  return next;
}

function windowReport(window: Window | undefined, tpm: number | null, rpm: number | null, now: number, windowMs: number): WindowReport {
  const empty = { buckets: [] };
  const counted = usage(window ?? empty);
  return {
    tokens: counted.tokens,
    requests: counted.requests,
    tokensLimit: tpm,
    requestsLimit: rpm,
    tokensResetMs: drainsIn(window ?? empty, "tokens", now, windowMs),
    requestsResetMs: drainsIn(window ?? empty, "requests", now, windowMs),
  };
}

function budgetReport(budget: Budget, limit: BudgetLimit): BudgetReport {
  return {
    spend: budget.spend,
    reserved: budget.reserved,
    max: limit.max,
    soft: limit.soft,
    resetAt: budget.resetAt,
    softCrossedAt: budget.softCrossedAt,
  };
}

function budgetLimitFor(limits: Limits, scope: string): BudgetLimit | null {
  if (scope === WHOLE) return limits.budget;
  return ownModelLimits(limits, scope.slice("model:".length))?.budget ?? null;
}

/** Own entries only: a model named "constructor" or "__proto__" must not pick up Object.prototype members. */
function ownModelLimits(limits: Limits, model: string): Limits["models"][string] | undefined {
  return Object.hasOwn(limits.models, model) ? limits.models[model] : undefined;
}

function budgetFor(state: LimiterState, limits: Limits, scope: string, now: number): Budget {
  let budget = state.budgets.get(scope);
  if (!budget) {
    budget = newBudget(budgetLimitFor(limits, scope) ?? UNLIMITED_BUDGET, now);
    state.budgets.set(scope, budget);
    state.changed.add(budgetEntry(scope));
  }
  return budget;
}

/**
 * Without a client cap the output is unknowable; reserve the configured default, but never so much that the
 * prompt plus the estimate could not fit an empty window (the "1024-token floor" failure mode).
 */
function outputEstimate(limits: Limits, request: AdmissionRequest, tokenLimits: number[]): number {
  if (request.maxOutputTokens !== null) return request.maxOutputTokens;
  const room = Math.min(...tokenLimits.map((limit) => limit - request.promptTokens));
  return Math.max(0, Math.min(limits.defaultOutputTokens, room));
}

export function costOf(price: Price, inputTokens: number, outputTokens: number): number {
  return Math.ceil(price.input * inputTokens + price.output * outputTokens);
}

function windowRejection(name: "requests" | "tokens", model: string | null, limit: number, used: number, requested: number, wait: number | null): Rejection {
  return {
    name,
    reason: wait === null ? "too_large" : "limit",
    model,
    limit,
    remaining: Math.max(0, limit - used),
    requested,
    retryAfterMs: wait,
  };
}

function budgetRejection(state: LimiterState, budget: Budget, limit: BudgetLimit, model: string | null, cost: number, now: number): Rejection {
  const max = limit.max ?? 0;
  let retryAfterMs: number | null = null;
  let reason: Rejection["reason"] = "limit";
  if (cost > max) reason = "too_large";
  else if (budget.spend + cost <= max) retryAfterMs = parallelHint(state, now); // only in-flight reservations block
  else if (budget.resetAt !== null) retryAfterMs = Math.max(0, budget.resetAt - now);
  return { name: "budget", reason, model, limit: max, remaining: remaining(budget, limit), requested: cost, retryAfterMs };
}

/** A parallel slot (or reserved money) frees when the oldest in-flight call ends; estimate that from history. */
function parallelHint(state: LimiterState, now: number): number {
  let oldest: Reservation | undefined;
  for (const reservation of state.reservations.values()) {
    if (!oldest || reservation.admittedAt < oldest.admittedAt) oldest = reservation;
  }
  if (!oldest) return MIN_PARALLEL_HINT_MS;
  const expected = Math.round(state.latencyMs - (now - oldest.admittedAt));
  return Math.min(Math.max(MIN_PARALLEL_HINT_MS, expected), Math.max(MIN_PARALLEL_HINT_MS, oldest.expiresAt - now));
}

/** The rejection to report is the one the client must wait longest for; "never" beats any wait. */
function pickWorst(rejections: Rejection[]): Rejection | undefined {
  let worst: Rejection | undefined;
  for (const candidate of rejections) {
    if (!worst) worst = candidate;
    else if (worst.retryAfterMs === null) continue;
    else if (candidate.retryAfterMs === null || candidate.retryAfterMs > worst.retryAfterMs) worst = candidate;
  }
  return worst;
}
