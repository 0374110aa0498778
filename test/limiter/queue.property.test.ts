import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { admit, release, settle, type AdmissionRequest, type LimiterState, type Limits, type Reservation } from "../../src/limiter";
import { arrive, drain, emptyQueue, leave, MAX_QUEUED_WINDOWS, next, nextWakeAt, type Queue, type Waiter } from "../../src/limiter/queue";
import { budget, copy, emptyState, limits, price } from "../helpers/limiter-fixtures";

// Random traffic through the waiting queue, driven by an explicit clock, with drain after every step as the owner
// does. Strict reservations: a reservation is a bound on what its call uses, so the windows must never exceed
// their limits. Each property is its own test so that one broken guarantee does not hide the others.

const RUNS = 200;

// ---------------------------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------------------------

const limitsArb: fc.Arbitrary<Limits> = fc
  .record({
    windowMs: fc.constantFrom(1_000, 6_000, 60_000),
    tpm: fc.option(fc.integer({ min: 20, max: 400 }), { nil: null, freq: 4 }),
    rpm: fc.option(fc.integer({ min: 1, max: 8 }), { nil: null, freq: 3 }),
    maxParallel: fc.option(fc.integer({ min: 1, max: 4 }), { nil: null, freq: 3 }),
    budgetMax: fc.option(fc.integer({ min: 100, max: 3_000 }), { nil: null, freq: 2 }),
    budgetSeconds: fc.option(fc.integer({ min: 1, max: 90 }), { nil: null, freq: 3 }),
    priorityReservation: fc.option(fc.constantFrom<Readonly<Record<string, number>>>({ prod: 0.8, batch: 0.2 }, { prod: 0.5, batch: 0.5 }, { prod: 1 }), { nil: null }),
    reservationTtlMs: fc.integer({ min: 500, max: 200_000 }),
  })
  .map(({ budgetMax, budgetSeconds, ...rest }) =>
    limits({ ...rest, budget: budget({ max: budgetMax, period: budgetSeconds === null ? null : { amount: budgetSeconds, unit: "s" } }) }),
  );

type Op =
  | {
      kind: "arrive";
      /** Prompt tokens and output cap, in percent of the token limit (see `tokensOf`): sizes that contend. */
      prompt: number;
      cap: number | null;
      /** How long the call may wait, in windows (0 = may not wait). */
      wait: number;
      share: string;
      priority: string | null;
      priced: boolean;
    }
  | { kind: "settle"; pick: number; tokenShare: number; costShare: number }
  | { kind: "release"; pick: number }
  | { kind: "leave"; pick: number }
  /** Time passes, in windows, plus a few ms. */
  | { kind: "tick"; windows: number; ms: number }
  /** The owner's timer fires at nextWakeAt, `late` ms late. */
  | { kind: "wake"; late: number };

const percent = fc.integer({ min: 0, max: 100 });
const percentOfScale = fc.oneof(fc.constantFrom(0, 5, 10, 20, 30, 40, 50, 60), fc.integer({ min: 0, max: 60 }));
const arriveArb = (waits: readonly number[]) =>
  fc.record({
    kind: fc.constant("arrive" as const),
    prompt: percentOfScale,
    cap: fc.option(percentOfScale, { nil: null, freq: 6 }),
    wait: fc.constantFrom(...waits),
    share: fc.constantFrom("a", "b", "c"),
    priority: fc.constantFrom(null, "prod", "batch"),
    priced: fc.integer({ min: 0, max: 9 }).map((value) => value > 0),
  });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: arriveArb([0, 0, 0.01, 0.1, 0.5, 1, 1, 1.5, 3, 3]) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("settle" as const), pick: fc.nat(), tokenShare: percent, costShare: percent }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("leave" as const), pick: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("tick" as const),
      windows: fc.constantFrom(0, 0, 0.001, 0.01, 0.1, 0.25, 0.5, 1, 2),
      ms: fc.integer({ min: 0, max: 50 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("wake" as const), late: fc.constantFrom(0, 0, 0, 1, 7) }) },
);

/** Mostly calls that may wait long, and little time passing: queues that grow long enough to reach their bounds. */
const crowdedOpArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: arriveArb([1, 1.5, 3]) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("tick" as const), windows: fc.constantFrom(0, 0.01, 0.1), ms: fc.integer({ min: 0, max: 50 }) }) },
);

// ---------------------------------------------------------------------------------------------------------------
// The simulation: an owner that drains after every step
// ---------------------------------------------------------------------------------------------------------------

/** One real admission (probes undone by the queue are not admissions) and what it counts after it ended. */
interface Admission {
  readonly id: string;
  readonly at: number;
  /** What it counts in the window now: its reservation, or what it settled to (0 once released). */
  tokens: number;
}

type Outcome = "admitted" | "expired" | "left";

interface Sim {
  readonly lim: Limits;
  readonly state: LimiterState;
  readonly queue: Queue;
  host: number;
  /** Every admission, in order. */
  readonly records: Admission[];
  /** Every call that was ever queued, by id. */
  readonly queued: Map<string, Waiter>;
  /** How each queued call left the queue; a second outcome for the same call is recorded as a duplicate. */
  readonly outcomes: Map<string, Outcome>;
  readonly duplicates: string[];
}

interface Hooks {
  /** A call admitted, from the queue or at its arrival. */
  onAdmitted?(sim: Sim, waiter: Waiter, reservation: Reservation): void;
  /** After every drain. */
  afterDrain?(sim: Sim): void;
  /** After every step. */
  afterStep?(sim: Sim): void;
}

function record(sim: Sim, reservation: Reservation): void {
  sim.records.push({ id: reservation.requestId, at: reservation.admittedAt, tokens: reservation.tokens });
}

function outcome(sim: Sim, id: string, what: Outcome): void {
  if (sim.outcomes.has(id)) sim.duplicates.push(`${id}: ${sim.outcomes.get(id)} then ${what}`);
  sim.outcomes.set(id, what);
}

function runDrain(sim: Sim, hooks: Hooks): void {
  const { admitted, expired } = drain(sim.state, sim.lim, sim.queue, sim.host);
  for (const { waiter, reservation } of admitted) {
    record(sim, reservation);
    outcome(sim, waiter.request.requestId, "admitted");
    hooks.onAdmitted?.(sim, waiter, reservation);
  }
  for (const { waiter } of expired) outcome(sim, waiter.request.requestId, "expired");
  hooks.afterDrain?.(sim);
}

/** Settles (tokens given) or releases (null) a live reservation; one that already expired keeps its charge. */
function endReservation(sim: Sim, id: string, tokens: number | null, cost: number): void {
  const found = sim.records.find((candidate) => candidate.id === id);
  const result = tokens === null ? release(sim.state, sim.lim, id, sim.host) : settle(sim.state, sim.lim, id, { tokens, cost }, sim.host);
  if (result && found) found.tokens = tokens ?? 0;
}

function live(sim: Sim): Reservation[] {
  return [...sim.state.reservations.values()].sort((a, b) => a.requestId.localeCompare(b.requestId));
}

/** Token sizes are drawn relative to the token limit (or a nominal 300 without one), so calls contend for it. */
function tokensOf(lim: Limits, percentOfScale: number): number {
  return Math.floor(((lim.tpm ?? 300) * percentOfScale) / 100);
}

function step(sim: Sim, op: Op, index: number, hooks: Hooks): void {
  const { lim, state, queue } = sim;
  switch (op.kind) {
    case "arrive": {
      const req: AdmissionRequest = {
        requestId: `w${index}`,
        model: "gpt-4o",
        promptTokens: tokensOf(lim, op.prompt),
        maxOutputTokens: op.cap === null ? null : tokensOf(lim, op.cap),
        price: op.priced ? price(1, 1) : null,
      };
      const waiter: Waiter = {
        request: req,
        enqueuedAt: sim.host,
        deadline: sim.host + Math.round(op.wait * lim.windowMs),
        share: op.share,
        priority: op.priority,
      };
      const arrival = arrive(state, lim, queue, waiter, sim.host);
      if (arrival.kind === "admitted") {
        record(sim, arrival.reservation);
        hooks.onAdmitted?.(sim, waiter, arrival.reservation);
      } else if (arrival.kind === "queued") {
        sim.queued.set(req.requestId, waiter);
      }
      break;
    }
    case "settle": {
      const all = live(sim);
      const target = all[op.pick % Math.max(1, all.length)];
      if (!target) break;
      // Strict: a call never uses more than it reserved.
      const tokens = Math.floor((target.tokens * op.tokenShare) / 100);
      const cost = Math.floor((target.cost * op.costShare) / 100);
      endReservation(sim, target.requestId, tokens, cost);
      break;
    }
    case "release": {
      const all = live(sim);
      const target = all[op.pick % Math.max(1, all.length)];
      if (target) endReservation(sim, target.requestId, null, 0);
      break;
    }
    case "leave": {
      const target = queue.waiters[op.pick % Math.max(1, queue.waiters.length)];
      if (!target) break;
      const left = leave(queue, target.request.requestId);
      expect(left).toBe(target);
      expect(leave(queue, target.request.requestId)).toBeNull();
      outcome(sim, target.request.requestId, "left");
      break;
    }
    case "tick":
      sim.host += Math.round(op.windows * lim.windowMs) + op.ms;
      break;
    case "wake": {
      const wake = nextWakeAt(state, lim, queue, sim.host);
      if (wake !== null) sim.host = Math.max(sim.host, wake + op.late);
      break;
    }
  }
  runDrain(sim, hooks);
  hooks.afterStep?.(sim);
}

function newSim(lim: Limits): Sim {
  return {
    lim,
    state: emptyState(),
    queue: emptyQueue(),
    host: 0,
    records: [],
    queued: new Map(),
    outcomes: new Map(),
    duplicates: [],
  };
}

function simulate(lim: Limits, ops: readonly Op[], hooks: Hooks = {}): Sim {
  const sim = newSim(lim);
  ops.forEach((op, index) => step(sim, op, index, hooks));
  return sim;
}

/**
 * Lets time run: every admitted call settles (at its full reservation) and the owner wakes when nextWakeAt says,
 * until nothing waits.
 */
function runOut(sim: Sim, hooks: Hooks = {}): void {
  for (let round = 0; round < 5_000 && sim.queue.waiters.length > 0; round++) {
    for (const reservation of live(sim)) endReservation(sim, reservation.requestId, reservation.tokens, reservation.cost);
    runDrain(sim, hooks);
    const wake = nextWakeAt(sim.state, sim.lim, sim.queue, sim.host);
    if (wake === null) break;
    // A wake-up that is not in the future would stall the run (property 2b is about that): step on instead.
    sim.host = wake > sim.host ? wake : sim.host + Math.ceil(sim.lim.windowMs / 10);
  }
  runDrain(sim, hooks);
}

const opsArb = fc.array(opArb, { minLength: 10, maxLength: 50, size: "max" });
/** Mostly arrivals: queues that grow long enough to reach their bounds. */
const crowdedOpsArb = fc.array(crowdedOpArb, { minLength: 10, maxLength: 80, size: "max" });

// ---------------------------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------------------------

/** For every admission instant t: what was admitted in (t - windowMs, t] stays within tpm and rpm. */
function checkExactWindows(sim: Sim): void {
  const { records, lim } = sim;
  let low = 0;
  let tokens = 0;
  let requests = 0;
  for (let high = 0; high < records.length; high++) {
    const current = records[high]!;
    tokens += current.tokens;
    requests += 1;
    if (records[high + 1]?.at === current.at) continue;
    while (records[low]!.at <= current.at - lim.windowMs) {
      tokens -= records[low]!.tokens;
      requests -= 1;
      low++;
    }
    if (lim.tpm !== null) expect(tokens, `tokens in the window ending at ${current.at}`).toBeLessThanOrEqual(lim.tpm);
    if (lim.rpm !== null) expect(requests, `requests in the window ending at ${current.at}`).toBeLessThanOrEqual(lim.rpm);
  }
}

describe("waiting queue under random traffic", () => {
  it("(1) no window ever exceeds tpm or rpm, and calls in flight never exceed maxParallel", () => {
    fc.assert(
      fc.property(limitsArb, opsArb, (lim, ops) => {
        const hooks: Hooks = {
          afterStep(sim) {
            if (lim.maxParallel !== null) expect(sim.state.reservations.size).toBeLessThanOrEqual(lim.maxParallel);
            checkExactWindows(sim);
          },
        };
        const sim = simulate(lim, ops, hooks);
        runOut(sim, hooks);
        checkExactWindows(sim);
      }),
      { numRuns: RUNS },
    );
  });

  it("(2) a waiter is never admitted after its deadline", () => {
    fc.assert(
      fc.property(limitsArb, opsArb, (lim, ops) => {
        const hooks: Hooks = {
          onAdmitted(_sim, waiter, reservation) {
            expect(reservation.admittedAt, `${waiter.request.requestId} admitted past its deadline ${waiter.deadline}`).toBeLessThanOrEqual(waiter.deadline);
          },
        };
        runOut(simulate(lim, ops, hooks), hooks);
      }),
      { numRuns: RUNS },
    );
  });

  it("(2b) after a drain no waiter is left queued past its deadline, so the next wake-up is in the future", () => {
    fc.assert(
      fc.property(limitsArb, opsArb, (lim, ops) => {
        const hooks: Hooks = {
          afterDrain(sim) {
            for (const waiter of sim.queue.waiters) {
              expect(waiter.deadline, `${waiter.request.requestId} still queued at ${sim.host}`).toBeGreaterThan(sim.host);
            }
            const wake = nextWakeAt(copy(sim.state), sim.lim, sim.queue, sim.host);
            if (sim.queue.waiters.length > 0) expect(wake).toBeGreaterThan(sim.host);
            else expect(wake).toBeNull();
          },
        };
        runOut(simulate(lim, ops, hooks), hooks);
      }),
      { numRuns: RUNS },
    );
  });

  it("(3) every queued call is eventually admitted, expired or left, exactly once: none is lost", () => {
    fc.assert(
      fc.property(limitsArb, opsArb, (lim, ops) => {
        const sim = simulate(lim, ops);
        runOut(sim);
        expect(sim.queue.waiters).toEqual([]);
        expect(sim.duplicates).toEqual([]);
        expect([...sim.outcomes.keys()].sort()).toEqual([...sim.queued.keys()].sort());
        // An admitted waiter holds exactly one real admission; the others hold none.
        for (const [id, what] of sim.outcomes) {
          expect(sim.records.filter((candidate) => candidate.id === id)).toHaveLength(what === "admitted" ? 1 : 0);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("(4) a queued call is admitted exactly when it fits: whenever a drain leaves the queue non-empty, its head does not fit", () => {
    fc.assert(
      fc.property(limitsArb, opsArb, (lim, ops) => {
        const hooks: Hooks = {
          afterDrain(sim) {
            const head = next(sim.queue, sim.lim);
            if (!head) return;
            const probe = admit(copy(sim.state), sim.lim, head.request, sim.host);
            expect(probe.ok, `${head.request.requestId} fits at ${sim.host} but was left waiting`).toBe(false);
          },
        };
        runOut(simulate(lim, ops, hooks), hooks);
      }),
      { numRuns: RUNS },
    );
  });

  // (MAX_WAITERS is out of reach of these short runs; queue.test.ts fills the queue to it.)
  it("(5) queued tokens never exceed MAX_QUEUED_WINDOWS x tpm", () => {
    fc.assert(
      fc.property(limitsArb, crowdedOpsArb, (lim, ops) => {
        const hooks: Hooks = {
          afterStep(sim) {
            if (lim.tpm === null) return;
            // Queued tokens as the queue itself counts them: each call's prompt plus its output cap.
            const queuedTokens = sim.queue.waiters.reduce((sum, waiter) => sum + waiter.request.promptTokens + (waiter.request.maxOutputTokens ?? 0), 0);
            expect(queuedTokens).toBeLessThanOrEqual(MAX_QUEUED_WINDOWS * lim.tpm);
          },
        };
        simulate(lim, ops, hooks);
      }),
      { numRuns: RUNS },
    );
  });
});
