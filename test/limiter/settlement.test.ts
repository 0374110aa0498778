import { describe, expect, it } from "vitest";
import { advance, cancel, release, settle, snapshot, type LimiterState, type Limits, type Settlement } from "../../src/limiter";
import { admitted, budget, contents, DAY, emptyState, limits, MINUTE, period, price, request } from "../helpers/limiter-fixtures";

// price(1, 2), 100 prompt tokens, 400-token cap: 500 tokens and 100 + 800 = 900 nano-dollars reserved.
const lim = limits({ tpm: 1_000, budget: budget({ max: 10_000 }), reservationTtlMs: 10_000 });
const estimate = () => request({ promptTokens: 100, maxOutputTokens: 400, price: price(1, 2) });

function whole(state: LimiterState) {
  const found = state.budgets.get("*");
  if (!found) throw new Error("no budget yet");
  return found;
}

describe("settle", () => {
  it("replaces the estimate in the same bucket, books the real cost and returns the reservation", () => {
    const state = emptyState();
    const reservation = admitted(state, lim, estimate(), 1_000);
    expect(reservation).toMatchObject({ tokens: 500, cost: 900, bucket: 1_000, admittedAt: 1_000, expiresAt: 11_000 });
    expect(state.windows.get("*")?.buckets).toEqual([{ time: 1_000, tokens: 500, requests: 1 }]);
    expect(whole(state)).toMatchObject({ spend: 0, reserved: 900 });

    const settlement = settle(state, lim, reservation.requestId, { tokens: 200, cost: 300 }, 3_000);
    expect(settlement).toEqual({ reservation, outcome: "settled", tokens: 200, cost: 300, at: 3_000 });
    expect(state.windows.get("*")?.buckets).toEqual([{ time: 1_000, tokens: 200, requests: 1 }]);
    expect(whole(state)).toMatchObject({ spend: 300, reserved: 0 });
    const view = snapshot(state, lim, 3_000);
    expect(view.window).toMatchObject({ tokens: 200, requests: 1, tokensResetMs: 1_000 + MINUTE - 3_000 });
    expect(view).toMatchObject({ inFlight: 0, reservedTokens: 0 });
  });

  it("only gives back the settled reservation's share", () => {
    const state = emptyState();
    const a = admitted(state, lim, estimate(), 0);
    admitted(state, lim, estimate(), 50); // stamped 100, a bucket of its own
    settle(state, lim, a.requestId, { tokens: 100, cost: 150 }, 200);
    expect(whole(state)).toMatchObject({ spend: 150, reserved: 900 });
    expect(state.windows.get("*")?.buckets).toEqual([
      { time: 0, tokens: 100, requests: 1 },
      { time: 100, tokens: 500, requests: 1 },
    ]);
    expect(snapshot(state, lim, 200)).toMatchObject({ inFlight: 1, reservedTokens: 500 });
  });

  it("still books the cost when the bucket already left the window", () => {
    const state = emptyState();
    const longLived = limits({ ...lim, reservationTtlMs: 10 * MINUTE });
    const reservation = admitted(state, longLived, estimate(), 1_000);
    expect(settle(state, longLived, reservation.requestId, { tokens: 450, cost: 800 }, 1_000 + MINUTE + 100)).not.toBeNull();
    expect(state.windows.has("*")).toBe(false);
    expect(whole(state)).toMatchObject({ spend: 800, reserved: 0 });
  });

  it("smooths the observed latency", () => {
    const state = emptyState();
    settle(state, lim, admitted(state, lim, estimate(), 0).requestId, { tokens: 1, cost: 1 }, 400);
    expect(state.latencyMs).toBe(400);
    settle(state, lim, admitted(state, lim, estimate(), 1_000).requestId, { tokens: 1, cost: 1 }, 1_100);
    expect(state.latencyMs).toBe(340);
  });
});

describe("release", () => {
  it("keeps the request counted but returns its tokens and money", () => {
    const state = emptyState();
    const reservation = admitted(state, lim, estimate(), 1_000);
    expect(release(state, lim, reservation.requestId, 2_000)).toEqual({ reservation, outcome: "released", tokens: 0, cost: 0, at: 2_000 });
    expect(state.windows.get("*")?.buckets).toEqual([{ time: 1_000, tokens: 0, requests: 1 }]);
    expect(whole(state)).toMatchObject({ spend: 0, reserved: 0 });
    expect(snapshot(state, lim, 2_000)).toMatchObject({ inFlight: 0, window: { tokens: 0, requests: 1 } });
  });
});

describe("cancel", () => {
  it("undoes the admission entirely", () => {
    const state = emptyState();
    const reservation = admitted(state, lim, estimate(), 1_000);
    expect(cancel(state, lim, reservation.requestId, 2_000)).toEqual({ reservation, outcome: "cancelled", tokens: 0, cost: 0, at: 2_000 });
    expect(state.windows.get("*")?.buckets).toEqual([{ time: 1_000, tokens: 0, requests: 0 }]);
    expect(whole(state)).toMatchObject({ spend: 0, reserved: 0 });
    expect(snapshot(state, lim, 2_000)).toMatchObject({ inFlight: 0, window: { tokens: 0, requests: 0 } });
  });
});

describe("every reservation ends exactly once", () => {
  type End = (state: LimiterState, limits: Limits, id: string, clock: number) => Settlement | null;
  const ends: Array<[string, End]> = [
    ["settle", (state, l, id, clock) => settle(state, l, id, { tokens: 10, cost: 10 }, clock)],
    ["release", release],
    ["cancel", cancel],
  ];

  it.each(ends)("%s of an unknown id returns null and changes nothing", (_name, end) => {
    const state = emptyState();
    admitted(state, lim, estimate(), 0);
    const before = contents(state);
    expect(end(state, lim, "nope", 0)).toBeNull();
    expect(contents(state)).toEqual(before);
  });

  for (const [firstName, first] of ends) {
    it.each(ends)(`${firstName} then %s returns null the second time`, (_name, second) => {
      const state = emptyState();
      const reservation = admitted(state, lim, estimate(), 0);
      expect(first(state, lim, reservation.requestId, 100)).not.toBeNull();
      const after = contents(state);
      expect(second(state, lim, reservation.requestId, 100)).toBeNull();
      expect(contents(state)).toEqual(after);
    });
  }
});

describe("expiry", () => {
  it("charges the estimate after reservationTtlMs and is reported by advance exactly once", () => {
    const state = emptyState();
    const reservation = admitted(state, lim, estimate(), 0);
    expect(advance(state, lim, 9_999).expired).toEqual([]);
    expect(whole(state)).toMatchObject({ spend: 0, reserved: 900 });

    expect(advance(state, lim, 10_000)).toEqual({
      now: 10_000,
      expired: [{ reservation, outcome: "expired", tokens: 500, cost: 900, at: 10_000 }],
    });
    expect(whole(state)).toMatchObject({ spend: 900, reserved: 0 });
    expect(state.windows.get("*")?.buckets).toEqual([{ time: 0, tokens: 500, requests: 1 }]);
    expect(state.reservations.size).toBe(0);

    expect(advance(state, lim, 10_001).expired).toEqual([]);
    expect(settle(state, lim, reservation.requestId, { tokens: 1, cost: 1 }, 10_002)).toBeNull();
    expect(release(state, lim, reservation.requestId, 10_002)).toBeNull();
    expect(cancel(state, lim, reservation.requestId, 10_002)).toBeNull();
    expect(whole(state)).toMatchObject({ spend: 900, reserved: 0 });
  });

  it("also happens inside any other operation, freeing the slot", () => {
    const one = limits({ ...lim, maxParallel: 1 });
    const state = emptyState();
    admitted(state, one, estimate(), 0);
    admitted(state, one, estimate(), 10_000);
    expect(whole(state)).toMatchObject({ spend: 900, reserved: 900 });
  });

  it("a reservation settled at the deadline has already expired", () => {
    const state = emptyState();
    const reservation = admitted(state, lim, estimate(), 0);
    expect(settle(state, lim, reservation.requestId, { tokens: 1, cost: 1 }, 10_000)).toBeNull();
    expect(whole(state)).toMatchObject({ spend: 900, reserved: 0 });
  });
});

describe("soft budget", () => {
  it("records the first crossing once per period", () => {
    const soft = limits({ budget: budget({ soft: 600, period: period(1, "d") }) });
    const state = emptyState();
    const costing = (cost: number, at: number) => {
      const reservation = admitted(state, soft, request({ promptTokens: cost, maxOutputTokens: 0, price: price(1, 0) }), at);
      settle(state, soft, reservation.requestId, { tokens: cost, cost }, at);
    };
    costing(500, 100);
    expect(whole(state).softCrossedAt).toBeNull();
    costing(200, 200);
    expect(whole(state).softCrossedAt).toBe(200);
    costing(300, 300);
    expect(snapshot(state, soft, 300).budget).toMatchObject({ spend: 1_000, soft: 600, softCrossedAt: 200 });

    expect(snapshot(state, soft, DAY + 100).budget).toMatchObject({ spend: 0, softCrossedAt: null });
    costing(599, DAY + 200);
    expect(whole(state).softCrossedAt).toBeNull();
    costing(1, DAY + 300);
    expect(whole(state).softCrossedAt).toBe(DAY + 300);
    costing(1, DAY + 400);
    expect(whole(state).softCrossedAt).toBe(DAY + 300);
  });
});
