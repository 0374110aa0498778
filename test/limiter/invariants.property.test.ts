import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  admit,
  advance,
  cancel,
  costOf,
  emptyState,
  release,
  settle,
  snapshot,
  UNLIMITED_BUDGET,
  type AdmissionRequest,
  type BudgetLimit,
  type LimiterState,
  type Limits,
  type ModelLimits,
  type Period,
  type Price,
  type Settlement,
} from "../../src/limiter";
import { BUCKETS_PER_WINDOW } from "../../src/limiter/window";
import { addPeriod } from "../../src/limiter/period";
import { copy, limits, modelLimits } from "../helpers/limiter-fixtures";

// ---------------------------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------------------------

const MODELS = ["m1", "m2"] as const; // only m1 may have limits of its own

const periodArb: fc.Arbitrary<Period | null> = fc.option(
  fc.oneof(
    fc.record({ amount: fc.integer({ min: 1, max: 120 }), unit: fc.constant("s" as const) }),
    fc.record({ amount: fc.integer({ min: 1, max: 5 }), unit: fc.constant("m" as const) }),
  ),
  { nil: null, freq: 3 },
);

const budgetArb = (maxNanos: number): fc.Arbitrary<BudgetLimit> =>
  fc.record({
    max: fc.option(fc.integer({ min: 0, max: maxNanos }), { nil: null, freq: 3 }),
    soft: fc.option(fc.integer({ min: 0, max: maxNanos }), { nil: null }),
    period: periodArb,
  });

const modelLimitsArb: fc.Arbitrary<ModelLimits> = fc.record({
  tpm: fc.option(fc.integer({ min: 0, max: 1_000 }), { nil: null, freq: 3 }),
  rpm: fc.option(fc.integer({ min: 0, max: 10 }), { nil: null, freq: 3 }),
  budget: fc.option(budgetArb(10_000), { nil: null, freq: 2 }),
});

const limitsArb: fc.Arbitrary<Limits> = fc
  .record({
    windowMs: fc.integer({ min: 1_000, max: 60_000 }),
    tpm: fc.option(fc.integer({ min: 0, max: 2_000 }), { nil: null, freq: 4 }),
    rpm: fc.option(fc.integer({ min: 0, max: 20 }), { nil: null, freq: 3 }),
    maxParallel: fc.option(fc.integer({ min: 0, max: 5 }), { nil: null, freq: 3 }),
    budget: budgetArb(20_000),
    m1: fc.option(modelLimitsArb, { nil: null }),
    defaultOutputTokens: fc.integer({ min: 0, max: 500 }),
    reservationTtlMs: fc.integer({ min: 500, max: 120_000 }),
  })
  .map(({ m1, ...rest }) => limits({ ...rest, models: m1 ? { m1 } : {} }));

const priceArb: fc.Arbitrary<Price | null> = fc.option(
  fc.record({ input: fc.constantFrom(0, 0.5, 1, 2, 3), output: fc.constantFrom(0, 1, 2.5, 4) }),
  { nil: null, freq: 5 },
);

type Op =
  | { kind: "admit"; model: (typeof MODELS)[number]; prompt: number; cap: number; price: Price | null }
  | { kind: "settle" | "release" | "cancel"; pick: number; tokenShare: number; costShare: number }
  | { kind: "tick"; dt: number }
  | { kind: "tickWindows"; windows: number }
  | { kind: "tickTtl"; ttls: number }
  | { kind: "advance" }
  /** Many tiny requests, each released at once, `step` of a window apart: fills a window with as many buckets as it can. */
  | { kind: "burst"; count: number; step: number };

const percent = fc.integer({ min: 0, max: 100 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("admit" as const),
      model: fc.constantFrom(...MODELS),
      prompt: fc.integer({ min: 0, max: 300 }),
      cap: fc.integer({ min: 0, max: 300 }),
      price: priceArb,
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constantFrom("settle" as const, "release" as const, "cancel" as const),
      pick: fc.nat(),
      tokenShare: percent,
      costShare: percent,
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("tick" as const), dt: fc.integer({ min: 0, max: 3_000 }) }) },
  // Jumps measured in windows (and past the TTL for long jumps); negative = the host clock going backwards.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("tickWindows" as const), windows: fc.constantFrom(0.5, 0.99, 1, 1.01, 2, 5, 50) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("tickWindows" as const), windows: fc.constantFrom(-0.5, -2) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("tickTtl" as const), ttls: fc.constantFrom(0.5, 1, 1.5, 3) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("advance" as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("burst" as const),
      count: fc.constantFrom(50, 300, 700),
      step: fc.constantFrom(1 / 1_200, 1 / 600, 1 / 400),
    }),
  },
);

// ---------------------------------------------------------------------------------------------------------------
// The model: every admission ever made and what it is charged after settlement
// ---------------------------------------------------------------------------------------------------------------

type Status = "live" | "settled" | "released" | "cancelled" | "expired";

interface Admitted {
  readonly id: string;
  readonly model: string;
  /** The limiter's own (monotonic) clock at admission. */
  readonly at: number;
  readonly expiresAt: number;
  readonly estimateTokens: number;
  readonly estimateCost: number;
  readonly budgetScopes: readonly string[];
  status: Status;
  /** Tokens that still count in the window for this request after its settlement. */
  tokens: number;
}

interface SpendEvent {
  readonly scope: string;
  readonly time: number;
  readonly cost: number;
}

const WHOLE = "*";
const M1 = "model:m1";

function spanOf(period: Period): number {
  return addPeriod(0, period);
}

class Model {
  readonly admitted: Admitted[] = [];
  readonly byId = new Map<string, Admitted>();
  readonly inFlight = new Set<Admitted>();
  readonly events: SpendEvent[] = [];
  readonly anchors = new Map<string, number>();
  clock = 0;

  constructor(readonly limits: Limits) {}

  budgetLimit(scope: string): BudgetLimit | null {
    return scope === WHOLE ? this.limits.budget : (this.limits.models.m1?.budget ?? null);
  }

  /** What the limiter must do first thing in every operation at host time `host`. */
  advanceTo(host: number): Admitted[] {
    this.clock = Math.max(this.clock, host);
    const expired: Admitted[] = [];
    for (const record of this.inFlight) {
      if (record.expiresAt <= this.clock) {
        this.inFlight.delete(record);
        record.status = "expired";
        record.tokens = record.estimateTokens;
        for (const scope of record.budgetScopes) this.events.push({ scope, time: record.expiresAt, cost: record.estimateCost });
        expired.push(record);
      }
    }
    return expired;
  }

  add(record: Admitted): void {
    this.admitted.push(record);
    this.byId.set(record.id, record);
    this.inFlight.add(record);
  }

  live(): Admitted[] {
    return [...this.inFlight];
  }

  end(record: Admitted, status: "settled" | "released" | "cancelled", tokens: number, cost: number): void {
    this.inFlight.delete(record);
    record.status = status;
    record.tokens = tokens;
    for (const scope of record.budgetScopes) this.events.push({ scope, time: this.clock, cost });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Invariants
// ---------------------------------------------------------------------------------------------------------------

/** (1) For every admission instant t: what was admitted in (t - windowMs, t] fits the limits. */
function checkExactWindow(records: readonly Admitted[], windowMs: number, tpm: number | null, rpm: number | null): void {
  const counted = records.filter((record) => record.status !== "cancelled");
  let low = 0;
  let tokens = 0;
  let requests = 0;
  for (let high = 0; high < counted.length; high++) {
    const record = counted[high]!;
    tokens += record.tokens;
    requests += 1;
    if (counted[high + 1]?.at === record.at) continue;
    while (counted[low]!.at <= record.at - windowMs) {
      tokens -= counted[low]!.tokens;
      requests -= 1;
      low++;
    }
    if (tpm !== null) expect(tokens, `tokens in the window ending at ${record.at}`).toBeLessThanOrEqual(tpm);
    if (rpm !== null) expect(requests, `requests in the window ending at ${record.at}`).toBeLessThanOrEqual(rpm);
  }
}

function checkInvariants(state: LimiterState, model: Model): void {
  const lim = model.limits;
  expect(state.clock).toBe(model.clock);

  // The live reservations are exactly the model's.
  const live = model.live();
  expect([...state.reservations.keys()].sort()).toEqual(live.map((record) => record.id).sort());
  // (2)
  if (lim.maxParallel !== null) expect(state.reservations.size).toBeLessThanOrEqual(lim.maxParallel);

  // (1), for the key and for m1 when it has window limits of its own.
  checkExactWindow(model.admitted, lim.windowMs, lim.tpm, lim.rpm);
  const m1 = lim.models.m1;
  if (m1 && (m1.tpm !== null || m1.rpm !== null)) {
    checkExactWindow(model.admitted.filter((record) => record.model === "m1"), lim.windowMs, m1.tpm, m1.rpm);
  }
  // What the limiter itself counts never exceeds the limits either.
  const view = snapshot(copy(state), lim, state.clock);
  if (lim.tpm !== null) expect(view.window.tokens).toBeLessThanOrEqual(lim.tpm);
  if (lim.rpm !== null) expect(view.window.requests).toBeLessThanOrEqual(lim.rpm);
  expect(view.inFlight).toBe(live.length);
  expect(view.reservedTokens).toBe(live.reduce((sum, record) => sum + record.estimateTokens, 0));

  // (5) bounded state, sorted buckets.
  for (const window of state.windows.values()) {
    expect(window.buckets.length).toBeLessThanOrEqual(BUCKETS_PER_WINDOW + 1);
    for (let index = 1; index < window.buckets.length; index++) {
      expect(window.buckets[index]!.time).toBeGreaterThan(window.buckets[index - 1]!.time);
    }
  }

  // (3) and (6), per budget scope.
  for (const scope of [WHOLE, M1]) {
    const limit = model.budgetLimit(scope);
    const found = state.budgets.get(scope);
    const scoped = model.admitted.filter((record) => record.budgetScopes.includes(scope));
    if (!limit || !found) {
      if (limit) expect(scoped).toEqual([]);
      continue;
    }
    let periodStart = Number.NEGATIVE_INFINITY;
    if (limit.period) {
      const span = spanOf(limit.period);
      expect(found.resetAt).not.toBeNull();
      const resetAt = found.resetAt ?? 0;
      expect(resetAt).toBeGreaterThan(state.clock);
      expect(resetAt - span).toBeLessThanOrEqual(state.clock);
      const anchor = model.anchors.get(scope) ?? resetAt;
      model.anchors.set(scope, anchor);
      expect((((resetAt - anchor) % span) + span) % span, "resets stay on the schedule").toBe(0);
      periodStart = resetAt - span;
    } else {
      expect(found.resetAt).toBeNull();
    }
    const reserved = scoped.filter((record) => record.status === "live").reduce((sum, record) => sum + record.estimateCost, 0);
    const spend = model.events
      .filter((event) => event.scope === scope && event.time >= periodStart)
      .reduce((sum, event) => sum + event.cost, 0);
    expect(found.reserved, `reserved in ${scope}`).toBe(reserved);
    expect(found.spend, `spend in ${scope}`).toBe(spend);
    if (limit.max !== null) expect(found.spend + found.reserved).toBeLessThanOrEqual(limit.max);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Running operations against both
// ---------------------------------------------------------------------------------------------------------------

/** The same limits with only the window limits left, to probe when the windows alone would admit. */
function windowsOnly(lim: Limits): Limits {
  const models: Record<string, ModelLimits> = {};
  for (const [name, model] of Object.entries(lim.models)) models[name] = modelLimits({ tpm: model.tpm, rpm: model.rpm });
  return { ...lim, maxParallel: null, budget: UNLIMITED_BUDGET, models };
}

function runAdmit(state: LimiterState, model: Model, req: AdmissionRequest, host: number, probe: boolean): void {
  const lim = model.limits;
  model.advanceTo(host);
  const result = admit(state, lim, req, host);
  const tokens = req.promptTokens + (req.maxOutputTokens ?? 0);
  const cost = req.price ? costOf(req.price, { prompt: req.promptTokens, completion: req.maxOutputTokens ?? 0 }) : null;
  const m1 = req.model === "m1" ? lim.models.m1 : undefined;

  if (result.ok) {
    const reservation = result.reservation;
    expect(reservation).toMatchObject({ requestId: req.requestId, admittedAt: model.clock, expiresAt: model.clock + lim.reservationTtlMs, tokens, cost: cost ?? 0 });
    const record: Admitted = {
      id: req.requestId,
      model: req.model,
      at: reservation.admittedAt,
      expiresAt: reservation.expiresAt,
      estimateTokens: tokens,
      estimateCost: reservation.cost,
      budgetScopes: m1?.budget ? [WHOLE, M1] : [WHOLE],
      status: "live",
      tokens,
    };
    expect([...reservation.budgets].sort()).toEqual([...record.budgetScopes].sort());
    model.add(record);
    return;
  }

  // The reported rejection is genuine.
  const rejection = result.rejection;
  const scope = rejection.model === null ? WHOLE : M1;
  switch (rejection.name) {
    case "parallel_requests":
      expect(lim.maxParallel).not.toBeNull();
      expect(state.reservations.size).toBeGreaterThanOrEqual(lim.maxParallel ?? 0);
      break;
    case "tokens":
    case "requests": {
      const limit = rejection.name === "tokens" ? (rejection.model === null ? lim.tpm : m1?.tpm) : rejection.model === null ? lim.rpm : m1?.rpm;
      expect(rejection.limit).toBe(limit);
      expect(rejection.requested).toBe(rejection.name === "tokens" ? tokens : 1);
      if (rejection.reason === "too_large") {
        expect(rejection.requested).toBeGreaterThan(rejection.limit);
        expect(rejection.retryAfterMs).toBeNull();
      } else {
        expect(rejection.reason).toBe("limit");
        expect(rejection.requested).toBeLessThanOrEqual(rejection.limit);
        const wait = rejection.retryAfterMs;
        expect(wait).not.toBeNull();
        if (probe && wait !== null) {
          // Exact: one ms earlier the windows still refuse it, at that instant they admit it.
          expect(wait).toBeGreaterThan(0);
          const onlyWindows = windowsOnly(lim);
          expect(admit(copy(state), onlyWindows, req, model.clock + wait - 1).ok).toBe(false);
          expect(admit(copy(state), onlyWindows, req, model.clock + wait).ok).toBe(true);
        }
      }
      break;
    }
    case "budget": {
      const limit = model.budgetLimit(scope);
      expect(limit?.max).not.toBeNull();
      expect(rejection.limit).toBe(limit?.max);
      if (rejection.reason === "price_unknown") {
        expect(req.price).toBeNull();
      } else {
        const found = state.budgets.get(scope);
        expect(cost).not.toBeNull();
        expect((found?.spend ?? 0) + (found?.reserved ?? 0) + (cost ?? 0)).toBeGreaterThan(limit?.max ?? 0);
        if (rejection.reason === "too_large") expect(cost).toBeGreaterThan(limit?.max ?? 0);
      }
      break;
    }
  }
}

function runEnd(
  state: LimiterState,
  model: Model,
  kind: "settle" | "release" | "cancel",
  id: string,
  tokenShare: number,
  costShare: number,
  host: number,
): void {
  model.advanceTo(host);
  const record = model.byId.get(id);
  const isLive = record?.status === "live";
  const tokens = record ? Math.floor((record.estimateTokens * tokenShare) / 100) : 0;
  const cost = record ? Math.floor((record.estimateCost * costShare) / 100) : 0;
  let result: Settlement | null;
  if (kind === "settle") result = settle(state, model.limits, id, { tokens, cost }, host);
  else if (kind === "release") result = release(state, model.limits, id, host);
  else result = cancel(state, model.limits, id, host);

  // (4) a reservation ends exactly once.
  if (!isLive || !record) {
    expect(result).toBeNull();
    return;
  }
  expect(result).not.toBeNull();
  if (kind === "settle") {
    expect(result).toMatchObject({ outcome: "settled", tokens, cost, at: model.clock });
    model.end(record, "settled", tokens, cost);
  } else {
    expect(result).toMatchObject({ outcome: kind === "release" ? "released" : "cancelled", tokens: 0, cost: 0, at: model.clock });
    model.end(record, kind === "release" ? "released" : "cancelled", 0, 0);
  }
}

function runAdvance(state: LimiterState, model: Model, host: number): void {
  const expected = model.advanceTo(host);
  const { now, expired } = advance(state, model.limits, host);
  expect(now).toBe(model.clock);
  // Reported exactly once, charged at the estimate.
  expect(expired.map((settlement) => [settlement.reservation.requestId, settlement.outcome, settlement.tokens, settlement.cost]).sort()).toEqual(
    expected.map((record) => [record.id, "expired", record.estimateTokens, record.estimateCost]).sort(),
  );
}

describe("limiter invariants under random traffic", () => {
  it("exact windows, parallelism, budgets, exactly-once endings and bounded state hold after every step", () => {
    fc.assert(
      fc.property(limitsArb, fc.array(opArb, { minLength: 1, maxLength: 40 }), (lim, ops) => {
        const state = emptyState();
        const model = new Model(lim);
        let host = 0;
        let next = 0;
        const ids: string[] = [];
        for (const op of ops) {
          switch (op.kind) {
            case "admit": {
              const id = `r${next++}`;
              ids.push(id);
              const req: AdmissionRequest = { requestId: id, model: op.model, promptTokens: op.prompt, maxOutputTokens: op.cap, price: op.price };
              runAdmit(state, model, req, host, true);
              break;
            }
            case "settle":
            case "release":
            case "cancel": {
              const id = ids.length === 0 ? "unknown" : (ids[op.pick % ids.length] ?? "unknown");
              runEnd(state, model, op.kind, id, op.tokenShare, op.costShare, host);
              break;
            }
            case "tick":
              host += op.dt;
              break;
            case "tickWindows":
              host = Math.max(0, host + Math.round(op.windows * lim.windowMs) + (op.windows >= 50 ? lim.reservationTtlMs : 0));
              break;
            case "tickTtl":
              host += Math.round(op.ttls * lim.reservationTtlMs);
              break;
            case "advance":
              runAdvance(state, model, host);
              break;
            case "burst": {
              const step = Math.max(1, Math.round(op.step * lim.windowMs));
              for (let index = 0; index < op.count; index++) {
                const id = `r${next++}`;
                runAdmit(state, model, { requestId: id, model: "m2", promptTokens: 0, maxOutputTokens: 0, price: { input: 0, output: 0 } }, host, false);
                if (model.byId.has(id)) runEnd(state, model, "release", id, 0, 0, host);
                host += step;
              }
              break;
            }
          }
          checkInvariants(state, model);
          // (4) again: anything that already ended stays ended.
          const probe = copy(state);
          for (const record of model.admitted.slice(-5)) {
            if (record.status !== "live") expect(cancel(probe, lim, record.id, host)).toBeNull();
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

