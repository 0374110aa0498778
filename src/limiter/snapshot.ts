import type { Budget, BudgetLimit } from "./budget";
import { advance } from "./limiter";
import type { Limits, ReservationPolicy } from "./limits";
import { budgetFor } from "./scopes";
import { INPUT, modelScope, OUTPUT, WHOLE, type LimiterState } from "./state";
import { drainsIn, usage, type Window } from "./window";

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
  readonly policy: ReservationPolicy;
  readonly budget: BudgetReport;
  readonly models: Record<string, ModelReport>;
  /** The separate input and output windows (inputTpm / outputTpm, Anthropic's ITPM and OTPM), when limited. */
  readonly input: WindowReport | null;
  readonly output: WindowReport | null;
  /** Capacity lent to front doors now (counted in the window, budget and parallel figures above). */
  readonly leased: LeasedReport;
}

export interface LeasedReport {
  readonly leases: number;
  readonly tokens: number;
  readonly requests: number;
  readonly slots: number;
  readonly cost: number;
}

function leasedReport(state: LimiterState): LeasedReport {
  const report = { leases: 0, tokens: 0, requests: 0, slots: 0, cost: 0 };
  for (const lease of state.leases.values()) {
    report.leases++;
    report.tokens += lease.tokens ?? 0;
    report.requests += lease.requests ?? 0;
    report.slots += lease.slots ?? 0;
    report.cost += lease.cost ?? 0;
  }
  return report;
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
    policy: limits.policy,
    budget: budgetReport(budgetFor(state, limits, WHOLE, now), limits.budget),
    models,
    input: limits.inputTpm != null ? windowReport(state.windows.get(INPUT), limits.inputTpm, null, now, limits.windowMs) : null,
    output: limits.outputTpm != null ? windowReport(state.windows.get(OUTPUT), limits.outputTpm, null, now, limits.windowMs) : null,
    leased: leasedReport(state),
  };
}

/** When the owner must wake up on its own: the next reservation deadline or budget reset. */
export function nextWakeAt(state: LimiterState): number | null {
  let next: number | null = null;
  const consider = (at: number | null) => {
    if (at !== null && (next === null || at < next)) next = at;
  };
  for (const reservation of state.reservations.values()) consider(reservation.expiresAt);
  for (const lease of state.leases.values()) consider(lease.expiresAt);
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

