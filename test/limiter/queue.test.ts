import { describe, expect, it } from "vitest";
import { extend, release, settle, snapshot, type AdmissionRequest, type LimiterState, type Limits, type Rejection } from "../../src/limiter";
import {
  arrive,
  drain,
  emptyQueue,
  leave,
  MAX_QUEUED_WINDOWS,
  MAX_WAITERS,
  next,
  nextWakeAt,
  queueReport,
  type Arrival,
  type Queue,
  type Waiter,
} from "../../src/limiter/queue";
import { admitted, budget, copy, emptyState, limits, MINUTE, period, price, request } from "../helpers/limiter-fixtures";

// Every test drives the queue with an explicit clock; windows are one minute with 100 ms buckets (fixtures).

interface WaiterOptions {
  /** Absolute deadline; default: far in the future. */
  readonly deadline?: number;
  readonly share?: string;
  readonly priority?: string | null;
}

function waiter(req: AdmissionRequest, now: number, options: WaiterOptions = {}): Waiter {
  return {
    request: req,
    enqueuedAt: now,
    deadline: options.deadline ?? now + 10 * MINUTE,
    share: options.share ?? req.requestId,
    priority: options.priority ?? null,
  };
}

/** A request reserving exactly `tokens` tokens under the strict policy (all of it prompt). */
const sized = (tokens: number, overrides: Partial<AdmissionRequest> = {}): AdmissionRequest =>
  request({ promptTokens: tokens, maxOutputTokens: 0, ...overrides });

function expectQueued(arrival: Arrival): void {
  expect(arrival, JSON.stringify(arrival)).toEqual({ kind: "queued" });
}

function expectRejected(arrival: Arrival): Rejection {
  if (arrival.kind !== "rejected") throw new Error(`expected a rejection, got ${JSON.stringify(arrival)}`);
  return arrival.rejection;
}

function expectQueueFull(arrival: Arrival): Rejection {
  if (arrival.kind !== "queue_full") throw new Error(`expected queue_full, got ${JSON.stringify(arrival)}`);
  return arrival.rejection;
}

/** Ids of what a drain admitted and expired, in order. */
function drained(state: LimiterState, lim: Limits, queue: Queue, now: number): { admitted: string[]; expired: string[] } {
  const result = drain(state, lim, queue, now);
  for (const { waiter: admittedWaiter, reservation } of result.admitted) {
    expect(reservation.requestId).toBe(admittedWaiter.request.requestId);
    expect(reservation.admittedAt).toBe(now);
  }
  return {
    admitted: result.admitted.map(({ waiter: admittedWaiter }) => admittedWaiter.request.requestId),
    expired: result.expired.map(({ waiter: expiredWaiter }) => expiredWaiter.request.requestId),
  };
}

const ids = (queue: Queue): string[] => queue.waiters.map((queued) => queued.request.requestId);

describe("arrive on an empty queue", () => {
  it("admits a call that fits and records it as an admission", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    const req = sized(60);
    const arrival = arrive(state, lim, queue, waiter(req, 1_000), 1_000);
    expect(arrival).toMatchObject({ kind: "admitted", reservation: { requestId: req.requestId, tokens: 60, admittedAt: 1_000 } });
    expect(state.reservations.has(req.requestId)).toBe(true);
    expect(queue.waiters).toEqual([]);
  });

  it("queues a call whose exact wait ends within its deadline, even when it ends exactly at the deadline", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(80), 1_000); // bucket 1_000: leaves the window at 61_000
    const req = sized(30);
    const arrival = arrive(state, lim, queue, waiter(req, 2_000, { deadline: 61_000 }), 2_000);
    expectQueued(arrival);
    expect(ids(queue)).toEqual([req.requestId]);
    // Queuing reserves nothing.
    expect(state.reservations.has(req.requestId)).toBe(false);
    expect(snapshot(copy(state), lim, 2_000).window.tokens).toBe(80);
  });

  it("rejects at once a call whose exact wait ends after its deadline", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(80), 1_000);
    const rejection = expectRejected(arrive(state, lim, queue, waiter(sized(30), 2_000, { deadline: 60_999 }), 2_000));
    expect(rejection).toMatchObject({ name: "tokens", reason: "limit", retryAfterMs: 59_000 });
    expect(queue.waiters).toEqual([]);
  });

  it("rejects at once a request larger than the limit (unknown wait), whatever its deadline", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    const rejection = expectRejected(arrive(state, lim, queue, waiter(sized(101), 0, { deadline: 100 * MINUTE }), 0));
    expect(rejection).toMatchObject({ name: "tokens", reason: "too_large", retryAfterMs: null });
    expect(queue.waiters).toEqual([]);
  });

  it("rejects at once a call over a budget that never resets (unknown wait)", () => {
    const lim = limits({ budget: budget({ max: 1_000 }) });
    const state = emptyState();
    const queue = emptyQueue();
    const first = admitted(state, lim, sized(10, { price: price(1, 1) }), 0);
    settle(state, lim, first.requestId, { tokens: 10, cost: 995 }, 10);
    const rejection = expectRejected(arrive(state, lim, queue, waiter(sized(10, { price: price(1, 1) }), 20, { deadline: 100 * MINUTE }), 20));
    expect(rejection).toMatchObject({ name: "budget", reason: "limit", retryAfterMs: null });
    expect(queue.waiters).toEqual([]);
  });

  it("rejects, and does not queue, a call that may not wait (deadline == now)", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(80), 1_000);
    const rejection = expectRejected(arrive(state, lim, queue, waiter(sized(30), 2_000, { deadline: 2_000 }), 2_000));
    expect(rejection).toMatchObject({ name: "tokens", reason: "limit", retryAfterMs: 59_000 });
    expect(queue.waiters).toEqual([]);
  });

  it("admits a call that may not wait when it fits", () => {
    const lim = limits({ tpm: 100 });
    const arrival = arrive(emptyState(), lim, emptyQueue(), waiter(sized(30), 2_000, { deadline: 2_000 }), 2_000);
    expect(arrival.kind).toBe("admitted");
  });
});

describe("drain admits the head at the exact instant its reservation fits", () => {
  it("requests per window: when the blocking bucket leaves, at bucket time + windowMs, not 1 ms before", () => {
    const lim = limits({ rpm: 1 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(1), 1_050); // stamped into bucket 1_100
    const req = sized(1);
    expectQueued(arrive(state, lim, queue, waiter(req, 2_000), 2_000));
    expect(nextWakeAt(state, lim, queue, 2_000)).toBe(1_100 + MINUTE);
    expect(drained(state, lim, queue, 1_100 + MINUTE - 1)).toEqual({ admitted: [], expired: [] });
    expect(ids(queue)).toEqual([req.requestId]);
    expect(drained(state, lim, queue, 1_100 + MINUTE)).toEqual({ admitted: [req.requestId], expired: [] });
    expect(queue.waiters).toEqual([]);
  });

  it("tokens per window: when enough tokens have left the window, not 1 ms before", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(50), 0);
    admitted(state, lim, sized(40), 5_000);
    const req = sized(30); // needs the 0-bucket's 50 tokens gone (the 5_000 bucket's 40 + 30 fit)
    expectQueued(arrive(state, lim, queue, waiter(req, 6_000), 6_000));
    expect(nextWakeAt(state, lim, queue, 6_000)).toBe(MINUTE);
    expect(drained(state, lim, queue, MINUTE - 1).admitted).toEqual([]);
    expect(drained(state, lim, queue, MINUTE).admitted).toEqual([req.requestId]);
  });

  it("tokens per window: when a settlement gives tokens back", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    const big = admitted(state, lim, sized(80), 0);
    const req = sized(30);
    expectQueued(arrive(state, lim, queue, waiter(req, 1_000), 1_000));
    expect(drained(state, lim, queue, 3_000).admitted).toEqual([]);
    settle(state, lim, big.requestId, { tokens: 70, cost: 0 }, 4_000);
    expect(drained(state, lim, queue, 4_000).admitted).toEqual([req.requestId]);
  });

  it("parallel requests: when a slot is freed by a release", () => {
    const lim = limits({ maxParallel: 1 });
    const state = emptyState();
    const queue = emptyQueue();
    const first = admitted(state, lim, sized(10), 0);
    const req = sized(10);
    expectQueued(arrive(state, lim, queue, waiter(req, 5, { deadline: 1_000 }), 5));
    expect(drained(state, lim, queue, 10).admitted).toEqual([]);
    release(state, lim, first.requestId, 20);
    expect(drained(state, lim, queue, 20).admitted).toEqual([req.requestId]);
  });

  it("parallel requests: when a slot is freed by a settlement", () => {
    const lim = limits({ maxParallel: 2 });
    const state = emptyState();
    const queue = emptyQueue();
    const first = admitted(state, lim, sized(10), 0);
    admitted(state, lim, sized(10), 0);
    const req = sized(10);
    expectQueued(arrive(state, lim, queue, waiter(req, 5, { deadline: 1_000 }), 5));
    expect(drained(state, lim, queue, 10).admitted).toEqual([]);
    settle(state, lim, first.requestId, { tokens: 10, cost: 0 }, 30);
    expect(drained(state, lim, queue, 30).admitted).toEqual([req.requestId]);
    expect(state.reservations.size).toBe(2);
  });

  it("budget: at the budget's reset, not 1 ms before", () => {
    const lim = limits({ budget: budget({ max: 1_000, period: period(1, "m") }) });
    const state = emptyState();
    const queue = emptyQueue();
    const first = admitted(state, lim, sized(10, { price: price(1, 1) }), 0); // the budget's schedule starts at 0
    settle(state, lim, first.requestId, { tokens: 10, cost: 995 }, 100);
    const req = sized(10, { price: price(1, 1) });
    expectQueued(arrive(state, lim, queue, waiter(req, 1_000, { deadline: 2 * MINUTE }), 1_000));
    expect(nextWakeAt(state, lim, queue, 1_000)).toBe(MINUTE);
    expect(drained(state, lim, queue, MINUTE - 1).admitted).toEqual([]);
    expect(drained(state, lim, queue, MINUTE).admitted).toEqual([req.requestId]);
  });
});

describe("drain order", () => {
  it("admits one share's waiters first come, first served", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(100), 0);
    const reqs = [sized(30), sized(30), sized(30), sized(30)];
    reqs.forEach((req, index) => expectQueued(arrive(state, lim, queue, waiter(req, 100 + index, { share: "a" }), 100 + index)));
    expect(drained(state, lim, queue, MINUTE).admitted).toEqual(reqs.slice(0, 3).map((req) => req.requestId));
    expect(ids(queue)).toEqual([reqs[3]!.requestId]);
  });

  it("never lets a small call overtake a big head that does not fit yet", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(60), 0);
    admitted(state, lim, sized(20), 30_000);
    const big = sized(50); // needs the 0-bucket gone: fits at 60_000
    const small = sized(10); // fits now (80 + 10 <= 100)
    expectQueued(arrive(state, lim, queue, waiter(big, 1_000, { share: "a" }), 1_000));
    expectQueued(arrive(state, lim, queue, waiter(small, 1_001, { share: "a" }), 1_001));
    expect(drained(state, lim, queue, 40_000).admitted).toEqual([]);
    expect(ids(queue)).toEqual([big.requestId, small.requestId]);
    expect(state.reservations.size).toBe(2);
    expect(drained(state, lim, queue, MINUTE).admitted).toEqual([big.requestId, small.requestId]);
  });

  it("a small call of another share does not overtake a head that does not fit yet either", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(90), 0);
    const big = sized(50);
    const small = sized(5);
    expectQueued(arrive(state, lim, queue, waiter(big, 1_000, { share: "a" }), 1_000));
    expectQueued(arrive(state, lim, queue, waiter(small, 1_001, { share: "b" }), 1_001));
    expect(drained(state, lim, queue, 2_000).admitted).toEqual([]);
    expect(drained(state, lim, queue, MINUTE).admitted).toEqual([big.requestId, small.requestId]);
  });
});

describe("waiters that can no longer be admitted in time", () => {
  it("the head leaves with its refusal when its deadline passes", () => {
    const lim = limits({ maxParallel: 1 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(10), 0);
    const req = sized(10);
    expectQueued(arrive(state, lim, queue, waiter(req, 0, { deadline: 100 }), 0));
    expect(drained(state, lim, queue, 50)).toEqual({ admitted: [], expired: [] });
    const result = drain(state, lim, queue, 100);
    expect(result.admitted).toEqual([]);
    expect(result.expired.map(({ waiter: gone }) => gone.request.requestId)).toEqual([req.requestId]);
    expect(result.expired[0]!.rejection).toMatchObject({ name: "parallel_requests", reason: "limit" });
    expect(queue.waiters).toEqual([]);
  });

  it("the head leaves at once, before its deadline, when its wait now ends after it", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(50), 0);
    const streaming = admitted(state, lim, sized(50), 30_000);
    const req = sized(40); // fits once the 0-bucket leaves: 60_000
    expectQueued(arrive(state, lim, queue, waiter(req, 31_000, { deadline: MINUTE }), 31_000));
    // The stream generates past its reservation: now the 30_000 bucket must leave too (90_000 > deadline).
    expect(extend(state, lim, streaming.requestId, 20, 32_000)).toBe(true);
    const result = drain(state, lim, queue, 32_000);
    expect(result.admitted).toEqual([]);
    expect(result.expired.map(({ waiter: gone }) => gone.request.requestId)).toEqual([req.requestId]);
    expect(result.expired[0]!.rejection).toMatchObject({ name: "tokens", retryAfterMs: 90_000 - 32_000 });
  });

  it("a head whose wait ends exactly at its deadline stays queued and is admitted at its deadline", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(80), 1_000); // leaves at 61_000
    const req = sized(30);
    expectQueued(arrive(state, lim, queue, waiter(req, 2_000, { deadline: 61_000 }), 2_000));
    expect(drained(state, lim, queue, 30_000)).toEqual({ admitted: [], expired: [] });
    expect(drained(state, lim, queue, 61_000)).toEqual({ admitted: [req.requestId], expired: [] });
  });

  it("a waiter is never admitted after its deadline, even when the drain comes late and it fits by then", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(80), 0);
    const req = sized(30);
    expectQueued(arrive(state, lim, queue, waiter(req, 1_000, { deadline: MINUTE }), 1_000));
    // The owner's timer for 60_000 fires 1 ms late: the call may no longer be admitted.
    const result = drain(state, lim, queue, MINUTE + 1);
    expect(result.admitted.map(({ waiter: late }) => late.request.requestId)).toEqual([]);
    expect(result.expired.map(({ waiter: late }) => late.request.requestId)).toEqual([req.requestId]);
    expect(state.reservations.has(req.requestId)).toBe(false);
  });

  it("a waiter behind the head leaves when its deadline passes, and is not admitted later", () => {
    // One parallel slot, held by a call in flight: the head's wait is only an estimate (the slot frees when that
    // call ends), so the call behind it may hope and queue, then its deadline passes with the slot still held.
    const lim = limits({ maxParallel: 1 });
    const state = emptyState();
    const queue = emptyQueue();
    const holder = sized(10);
    admitted(state, lim, holder, 0);
    const head = sized(40);
    const behind = sized(10);
    expectQueued(arrive(state, lim, queue, waiter(head, 1_000, { deadline: 2 * MINUTE }), 1_000));
    expectQueued(arrive(state, lim, queue, waiter(behind, 1_000, { deadline: 5_000 }), 1_000));
    const atDeadline = drained(state, lim, queue, 5_000);
    expect(atDeadline.expired).toEqual([behind.requestId]);
    expect(ids(queue)).toEqual([head.requestId]);
    // The next wake-up is in the future (no busy loop on a past deadline)...
    expect(nextWakeAt(state, lim, queue, 5_000)!).toBeGreaterThan(5_000);
    // ...and when the slot frees, the expired call is not admitted with the head.
    release(state, lim, holder.requestId, 6_000);
    expect(drained(state, lim, queue, 6_000).admitted).toEqual([head.requestId]);
  });

  it("a newcomer behind a head that cannot fit before the newcomer's deadline is refused at once", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(80), 0);
    const head = sized(40); // fits at 60_000
    expectQueued(arrive(state, lim, queue, waiter(head, 1_000, { deadline: 2 * MINUTE }), 1_000));
    const refusal = expectRejected(arrive(state, lim, queue, waiter(sized(10), 1_000, { deadline: 5_000 }), 1_000));
    expect(refusal).toMatchObject({ name: "queue", reason: "limit", retryAfterMs: MINUTE - 1_000 });
    expect(ids(queue)).toEqual([head.requestId]);
  });
});

describe("a newcomer while others wait", () => {
  /** tpm 100 with 80 used (leaving at 60_000) and a 40-token head waiting for that. */
  function contended() {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(80), 0);
    const head = sized(40);
    expectQueued(arrive(state, lim, queue, waiter(head, 1_000, { share: "a" }), 1_000));
    return { lim, state, queue, head };
  }

  it("is queued behind them when it may wait, even though it would fit now", () => {
    const { lim, state, queue, head } = contended();
    const newcomer = sized(10);
    expectQueued(arrive(state, lim, queue, waiter(newcomer, 2_000, { share: "a" }), 2_000));
    expect(ids(queue)).toEqual([head.requestId, newcomer.requestId]);
    // Nothing was reserved for it: the probe was undone.
    expect(state.reservations.has(newcomer.requestId)).toBe(false);
    expect(snapshot(copy(state), lim, 2_000).window).toMatchObject({ tokens: 80, requests: 1 });
    expect(drained(state, lim, queue, MINUTE).admitted).toEqual([head.requestId, newcomer.requestId]);
  });

  it("is refused with name 'queue', reason 'limit' when it may not wait, even though it would fit now", () => {
    const { lim, state, queue, head } = contended();
    const newcomer = sized(10);
    const rejection = expectRejected(arrive(state, lim, queue, waiter(newcomer, 2_000, { deadline: 2_000, share: "b" }), 2_000));
    expect(rejection).toMatchObject({ name: "queue", reason: "limit", retryAfterMs: MINUTE - 2_000 });
    expect(ids(queue)).toEqual([head.requestId]);
    expect(state.reservations.has(newcomer.requestId)).toBe(false);
    expect(snapshot(copy(state), lim, 2_000).window).toMatchObject({ tokens: 80, requests: 1 });
  });

  it("is queued behind them when it does not fit and its own wait ends in time", () => {
    const { lim, state, queue, head } = contended();
    const newcomer = sized(30);
    expectQueued(arrive(state, lim, queue, waiter(newcomer, 2_000, { deadline: MINUTE }), 2_000));
    expect(ids(queue)).toEqual([head.requestId, newcomer.requestId]);
  });

  it("is refused with its own refusal when it does not fit and its own wait ends after its deadline", () => {
    const { lim, state, queue } = contended();
    const rejection = expectRejected(arrive(state, lim, queue, waiter(sized(30), 2_000, { deadline: MINUTE - 1 }), 2_000));
    expect(rejection).toMatchObject({ name: "tokens", reason: "limit", retryAfterMs: MINUTE - 2_000 });
    expect(queue.waiters).toHaveLength(1);
  });
});

describe("fairness between shares (a team's keys)", () => {
  it("serves the share served least first: B's only call goes before A's second", () => {
    const lim = limits({ maxParallel: 1 });
    const state = emptyState();
    const queue = emptyQueue();
    let running = admitted(state, lim, sized(10), 0).requestId;
    const a = [sized(10), sized(10), sized(10)];
    const b = sized(10);
    a.forEach((req, index) => expectQueued(arrive(state, lim, queue, waiter(req, 1 + index, { share: "A" }), 1 + index)));
    expectQueued(arrive(state, lim, queue, waiter(b, 4, { share: "B" }), 4));
    const order: string[] = [];
    for (let step = 0; step < 4; step++) {
      const now = 10 + step;
      release(state, lim, running, now);
      const { admitted: admittedNow } = drained(state, lim, queue, now);
      expect(admittedNow).toHaveLength(1); // capacity frees one call at a time
      order.push(admittedNow[0]!);
      running = admittedNow[0]!;
    }
    expect(order).toEqual([a[0]!.requestId, b.requestId, a[1]!.requestId, a[2]!.requestId]);
  });

  it("served counters reset when the queue empties", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(100), 0);
    expectQueued(arrive(state, lim, queue, waiter(sized(30), 1, { share: "A", priority: "prod" }), 1));
    expectQueued(arrive(state, lim, queue, waiter(sized(30), 2, { share: "B", priority: "batch" }), 2));
    expect(drained(state, lim, queue, MINUTE).admitted).toHaveLength(2);
    expect(queue.waiters).toEqual([]);
    expect(queue.served.size).toBe(0);
    expect(queue.servedByPriority.size).toBe(0);
  });

  it("a new queue starts even: a share served in an earlier queue does not lose its turn", () => {
    const lim = limits({ maxParallel: 1 });
    const state = emptyState();
    const queue = emptyQueue();
    // First queue: A is served a lot, then the queue empties.
    let running = admitted(state, lim, sized(10), 0).requestId;
    const earlier = sized(500);
    expectQueued(arrive(state, lim, queue, waiter(earlier, 1, { share: "A" }), 1));
    release(state, lim, running, 2);
    expect(drained(state, lim, queue, 2).admitted).toEqual([earlier.requestId]);
    running = earlier.requestId;
    // Second queue: A's call arrives first, B's second: with the slate clean, first come first served.
    const a = sized(10);
    const b = sized(10);
    expectQueued(arrive(state, lim, queue, waiter(a, 3, { share: "A" }), 3));
    expectQueued(arrive(state, lim, queue, waiter(b, 4, { share: "B" }), 4));
    release(state, lim, running, 5);
    expect(drained(state, lim, queue, 5).admitted).toEqual([a.requestId]);
  });
});

describe("priority classes", () => {
  const reservation = { prod: 0.8, batch: 0.2 };

  /** Queues the given classes (in order) behind a single-slot blocker, then frees one slot at a time. */
  function serveOneByOne(classes: readonly string[], steps: number, extra: Partial<Limits> = {}): string[] {
    const lim = limits({ maxParallel: 1, priorityReservation: reservation, ...extra });
    const state = emptyState();
    const queue = emptyQueue();
    let running = admitted(state, lim, sized(10), 0).requestId;
    const classOf = new Map<string, string>();
    classes.forEach((priority, index) => {
      const req = sized(10);
      classOf.set(req.requestId, priority);
      expectQueued(arrive(state, lim, queue, waiter(req, 1 + index, { priority }), 1 + index));
    });
    const order: string[] = [];
    for (let step = 0; step < steps; step++) {
      const now = 1_000 + step;
      release(state, lim, running, now);
      const { admitted: admittedNow } = drained(state, lim, queue, now);
      expect(admittedNow).toHaveLength(1);
      running = admittedNow[0]!;
      order.push(classOf.get(running)!);
    }
    return order;
  }

  it("with both classes waiting, prod goes first, then batch as soon as it is short of its 20%, and prod keeps 80%", () => {
    // Every prod call queued before every batch call: batch only goes early because it is owed its share.
    const order = serveOneByOne([...Array(9).fill("prod"), ...Array(4).fill("batch")], 10);
    expect(order.slice(0, 2)).toEqual(["prod", "batch"]);
    expect(order.filter((priority) => priority === "prod")).toHaveLength(8);
    expect(order.filter((priority) => priority === "batch")).toHaveLength(2);
  });

  it("a class short of its share is served before one above it, whatever the arrival order", () => {
    // Batch arrived first, but while prod is below 80% of what was served, prod goes first.
    const order = serveOneByOne([...Array(4).fill("batch"), ...Array(9).fill("prod")], 5);
    expect(order).toEqual(["prod", "batch", "prod", "prod", "prod"]);
  });

  it("with only batch waiting, batch borrows everything (work-conserving)", () => {
    const lim = limits({ tpm: 100, priorityReservation: reservation });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(100), 0);
    const batch = [sized(25), sized(25), sized(25), sized(25)];
    batch.forEach((req, index) => expectQueued(arrive(state, lim, queue, waiter(req, 1 + index, { priority: "batch" }), 1 + index)));
    expect(drained(state, lim, queue, MINUTE).admitted).toEqual(batch.map((req) => req.requestId));
  });

  it("with only batch waiting one slot at a time, every slot goes to batch", () => {
    expect(serveOneByOne(Array(5).fill("batch"), 5)).toEqual(Array(5).fill("batch"));
  });

  it("counts only what was served since the queue formed: earlier prod traffic does not hand batch the first turn", () => {
    const lim = limits({ maxParallel: 1, priorityReservation: reservation });
    const state = emptyState();
    const queue = emptyQueue();
    // Before anything waits, prod calls go straight through (the owner drains nothing: its queue is empty).
    for (let index = 0; index < 3; index++) {
      const call = arrive(state, lim, queue, waiter(sized(10), index, { priority: "prod" }), index);
      if (call.kind !== "admitted") throw new Error(JSON.stringify(call));
      release(state, lim, call.reservation.requestId, index);
    }
    const blocker = arrive(state, lim, queue, waiter(sized(10), 10, { priority: "prod" }), 10);
    if (blocker.kind !== "admitted") throw new Error(JSON.stringify(blocker));
    // Now the queue forms: a batch call, then a prod call.
    const batch = sized(10);
    const prod = sized(10);
    expectQueued(arrive(state, lim, queue, waiter(batch, 11, { priority: "batch" }), 11));
    expectQueued(arrive(state, lim, queue, waiter(prod, 12, { priority: "prod" }), 12));
    release(state, lim, blocker.reservation.requestId, 20);
    // Nothing was served since the queue formed, so prod (short of its 80%) goes first.
    expect(drained(state, lim, queue, 20).admitted).toEqual([prod.requestId]);
  });
});

describe("queue bounds", () => {
  it(`refuses the waiter after ${MAX_WAITERS} with queue_full`, () => {
    const lim = limits({ maxParallel: 1 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(1), 0);
    for (let index = 0; index < MAX_WAITERS; index++) expectQueued(arrive(state, lim, queue, waiter(sized(1), 1), 1));
    expect(queue.waiters).toHaveLength(MAX_WAITERS);
    const rejection = expectQueueFull(arrive(state, lim, queue, waiter(sized(1), 1), 1));
    expect(rejection).toMatchObject({ name: "queue", reason: "queue_full" });
    expect(queue.waiters).toHaveLength(MAX_WAITERS);
  });

  it(`queues tokens up to ${MAX_QUEUED_WINDOWS} windows of tpm and refuses beyond with queue_full`, () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(100), 0);
    const bound = MAX_QUEUED_WINDOWS * 100;
    for (let queued = 0; queued < bound; queued += 20) expectQueued(arrive(state, lim, queue, waiter(request(), 1), 1)); // 10 + 10 each
    const rejection = expectQueueFull(arrive(state, lim, queue, waiter(sized(1), 1), 1));
    expect(rejection).toMatchObject({ name: "queue", reason: "queue_full" });
    expect(queue.waiters).toHaveLength(bound / 20);
  });

  it("counts a newcomer's output cap toward the queued-token bound, as it does for the calls already queued", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(100), 0);
    for (let index = 0; index < 19; index++) expectQueued(arrive(state, lim, queue, waiter(request(), 1), 1)); // 380 tokens
    // 10 prompt + 15 output: 405 tokens queued would exceed 400.
    const arrival = arrive(state, lim, queue, waiter(request({ promptTokens: 10, maxOutputTokens: 15 }), 1), 1);
    expect(arrival.kind).toBe("queue_full");
    const queuedTokens = queue.waiters.reduce((sum, queued) => sum + queued.request.promptTokens + (queued.request.maxOutputTokens ?? 0), 0);
    expect(queuedTokens).toBeLessThanOrEqual(MAX_QUEUED_WINDOWS * 100);
  });
});

describe("leave and queueReport", () => {
  it("leave removes a waiter and returns it; a second leave returns null; the call is never admitted", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(100), 0);
    const gone = waiter(sized(10), 1);
    const stays = waiter(sized(10), 2);
    expectQueued(arrive(state, lim, queue, gone, 1));
    expectQueued(arrive(state, lim, queue, stays, 2));
    expect(leave(queue, gone.request.requestId)).toBe(gone);
    expect(leave(queue, gone.request.requestId)).toBeNull();
    expect(leave(queue, "never-queued")).toBeNull();
    expect(ids(queue)).toEqual([stays.request.requestId]);
    expect(drained(state, lim, queue, MINUTE).admitted).toEqual([stays.request.requestId]);
    expect(state.reservations.has(gone.request.requestId)).toBe(false);
  });

  it("queueReport gives the length and how long the oldest waiter has waited", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    expect(queueReport(queue, 0)).toEqual({ length: 0, oldestWaitMs: null });
    admitted(state, lim, sized(100), 0);
    expectQueued(arrive(state, lim, queue, waiter(sized(10), 1_000), 1_000));
    expectQueued(arrive(state, lim, queue, waiter(sized(10), 3_000), 3_000));
    expect(queueReport(queue, 5_000)).toEqual({ length: 2, oldestWaitMs: 4_000 });
    const oldest = queue.waiters[0]!.request.requestId;
    leave(queue, oldest);
    expect(queueReport(queue, 5_000)).toEqual({ length: 1, oldestWaitMs: 2_000 });
  });
});

describe("nextWakeAt", () => {
  it("is null for an empty queue", () => {
    expect(nextWakeAt(emptyState(), limits({ tpm: 100 }), emptyQueue(), 0)).toBeNull();
  });

  it("is exactly the instant the head fits, and the head is admitted then", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(70), 2_340); // bucket 2_400
    const req = sized(40);
    expectQueued(arrive(state, lim, queue, waiter(req, 3_000), 3_000));
    const wake = nextWakeAt(state, lim, queue, 3_000);
    expect(wake).toBe(2_400 + MINUTE);
    expect(drained(state, lim, queue, wake! - 1).admitted).toEqual([]);
    expect(drained(state, lim, queue, wake!).admitted).toEqual([req.requestId]);
  });

  it("is the head's deadline when that comes before the head fits", () => {
    const lim = limits({ maxParallel: 1 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(10), 0);
    // No latency history: a slot is hinted to free in 10 ms; the deadline is sooner than a refreshed hint.
    expectQueued(arrive(state, lim, queue, waiter(sized(10), 0, { deadline: 15 }), 0));
    expect(nextWakeAt(state, lim, queue, 12)).toBe(15);
  });

  it("is now when the head already fits, and asking does not reserve anything", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    const big = admitted(state, lim, sized(80), 0);
    expectQueued(arrive(state, lim, queue, waiter(sized(40), 1_000), 1_000));
    release(state, lim, big.requestId, 2_000);
    expect(nextWakeAt(state, lim, queue, 2_000)).toBe(2_000);
    expect(state.reservations.size).toBe(0);
    expect(snapshot(copy(state), lim, 2_000).window).toMatchObject({ tokens: 0, requests: 1 });
  });

  it("agrees with next(): the head it waits for is the waiter drain admits first", () => {
    const lim = limits({ tpm: 100 });
    const state = emptyState();
    const queue = emptyQueue();
    admitted(state, lim, sized(100), 0);
    expectQueued(arrive(state, lim, queue, waiter(sized(20), 1, { share: "A" }), 1));
    expectQueued(arrive(state, lim, queue, waiter(sized(20), 2, { share: "B" }), 2));
    const head = next(queue, lim);
    expect(head?.share).toBe("A");
    const result = drain(state, lim, queue, MINUTE);
    expect(result.admitted[0]?.waiter).toBe(head);
  });
});
