import { describe, expect, it } from "vitest";
import { admit, emptyState, settle, snapshot, type AdmissionRequest, type LimiterState, type Limits } from "../../src/limiter";
import { admitted, budget, copy, DAY, limits, MINUTE, modelLimits, period, price, rejected, request } from "../helpers/limiter-fixtures";

/** retryAfterMs is exact: one millisecond earlier the request is still refused, at that instant it is admitted. */
function expectExactRetry(state: LimiterState, lim: Limits, req: AdmissionRequest, now: number, retryAfterMs: number): void {
  expect(retryAfterMs).toBeGreaterThan(0);
  expect(admit(copy(state), lim, req, now + retryAfterMs - 1).ok).toBe(false);
  expect(admit(copy(state), lim, req, now + retryAfterMs).ok).toBe(true);
}

describe("tokens per window", () => {
  const lim = limits({ tpm: 100 });

  it("rejects with the exact limit, remaining, requested and retryAfterMs", () => {
    const state = emptyState();
    admitted(state, lim, request({ promptTokens: 30, maxOutputTokens: 30 }), 1_000);
    const second = request({ promptTokens: 20, maxOutputTokens: 30 });
    expect(rejected(state, lim, second, 5_000)).toEqual({
      name: "tokens",
      reason: "limit",
      model: null,
      limit: 100,
      remaining: 40,
      requested: 50,
      retryAfterMs: 1_000 + MINUTE - 5_000,
    });
    expectExactRetry(state, lim, second, 5_000, 56_000);
  });

  it("admits exactly up to the limit", () => {
    const state = emptyState();
    admitted(state, lim, request({ promptTokens: 30, maxOutputTokens: 30 }), 0);
    admitted(state, lim, request({ promptTokens: 20, maxOutputTokens: 20 }), 10);
    expect(rejected(state, lim, request({ promptTokens: 1, maxOutputTokens: 0 }), 20)).toMatchObject({ remaining: 0, requested: 1 });
  });

  it("a request larger than the whole limit is too_large and waiting will not help", () => {
    expect(rejected(emptyState(), lim, request({ promptTokens: 80, maxOutputTokens: 30 }), 0)).toEqual({
      name: "tokens",
      reason: "too_large",
      model: null,
      limit: 100,
      remaining: 100,
      requested: 110,
      retryAfterMs: null,
    });
  });

  it("the wait covers as many old buckets as the request needs", () => {
    const state = emptyState();
    admitted(state, lim, request({ promptTokens: 20, maxOutputTokens: 0 }), 100);
    admitted(state, lim, request({ promptTokens: 30, maxOutputTokens: 0 }), 200);
    admitted(state, lim, request({ promptTokens: 50, maxOutputTokens: 0 }), 300);
    const big = request({ promptTokens: 45, maxOutputTokens: 0 });
    expect(rejected(state, lim, big, 1_000)).toMatchObject({ remaining: 0, requested: 45, retryAfterMs: 200 + MINUTE - 1_000 });
    expectExactRetry(state, lim, big, 1_000, 59_200);
  });
});

describe("requests per window", () => {
  it("rejects with the exact limit, remaining, requested and retryAfterMs", () => {
    const lim = limits({ rpm: 2 });
    const state = emptyState();
    admitted(state, lim, request(), 0);
    admitted(state, lim, request(), 150);
    const third = request();
    expect(rejected(state, lim, third, 1_000)).toEqual({
      name: "requests",
      reason: "limit",
      model: null,
      limit: 2,
      remaining: 0,
      requested: 1,
      retryAfterMs: MINUTE - 1_000,
    });
    expectExactRetry(state, lim, third, 1_000, 59_000);
  });

  it("frees capacity when the request's bucket leaves, at most one bucket width late", () => {
    const lim = limits({ rpm: 1 });
    const state = emptyState();
    admitted(state, lim, request(), 150); // stamped 200
    const next = request();
    expect(rejected(state, lim, next, 60_150).retryAfterMs).toBe(50);
    expectExactRetry(state, lim, next, 60_150, 50);
  });

  it("rpm 0 is too_large", () => {
    expect(rejected(emptyState(), limits({ rpm: 0 }), request(), 0)).toEqual({
      name: "requests",
      reason: "too_large",
      model: null,
      limit: 0,
      remaining: 0,
      requested: 1,
      retryAfterMs: null,
    });
  });
});

describe("parallel requests", () => {
  it("rejects the request over maxParallel with the minimum hint when there is no latency history", () => {
    const lim = limits({ maxParallel: 2 });
    const state = emptyState();
    const first = admitted(state, lim, request(), 0);
    admitted(state, lim, request(), 0);
    const third = request();
    expect(rejected(state, lim, third, 10)).toEqual({
      name: "parallel_requests",
      reason: "limit",
      model: null,
      limit: 2,
      remaining: 0,
      requested: 1,
      retryAfterMs: 10,
    });
    settle(state, lim, first.requestId, { tokens: 5, cost: 0 }, 20);
    admitted(state, lim, third, 20);
  });

  it("hints from the smoothed latency of earlier calls", () => {
    const lim = limits({ maxParallel: 1 });
    const state = emptyState();
    const first = admitted(state, lim, request(), 0);
    settle(state, lim, first.requestId, { tokens: 1, cost: 0 }, 400);
    admitted(state, lim, request(), 1_000);
    expect(rejected(state, lim, request(), 1_100).retryAfterMs).toBe(300);
  });

  it("never hints past the oldest reservation's expiry", () => {
    const slow = limits({ maxParallel: 1 });
    const lim = limits({ maxParallel: 1, reservationTtlMs: 200 });
    const state = emptyState();
    const first = admitted(state, slow, request(), 0);
    settle(state, slow, first.requestId, { tokens: 1, cost: 0 }, 400); // latency 400 > the new 200 ms TTL
    admitted(state, lim, request(), 1_000);
    const next = request();
    expect(rejected(state, lim, next, 1_100).retryAfterMs).toBe(100);
    expectExactRetry(state, lim, next, 1_100, 100);
  });

  it("maxParallel 0 is too_large", () => {
    expect(rejected(emptyState(), limits({ maxParallel: 0 }), request(), 0)).toEqual({
      name: "parallel_requests",
      reason: "too_large",
      model: null,
      limit: 0,
      remaining: 0,
      requested: 1,
      retryAfterMs: null,
    });
  });
});

describe("budget", () => {
  // price(1, 2) with 100 prompt tokens and a 200-token cap: 100 + 400 = 500 nano-dollars.
  const costly = (): AdmissionRequest => request({ promptTokens: 100, maxOutputTokens: 200, price: price(1, 2) });

  it("reserves the worst-case cost", () => {
    const reservation = admitted(emptyState(), limits(), costly(), 0);
    expect(reservation.cost).toBe(500);
    expect(reservation.tokens).toBe(300);
  });

  it("rounds fractional costs up to whole nano-dollars", () => {
    const reservation = admitted(emptyState(), limits(), request({ promptTokens: 3, maxOutputTokens: 3, price: price(0.5, 1.25) }), 0);
    expect(reservation.cost).toBe(6);
  });

  it("counts reservations: when only in-flight money blocks, the hint is the parallel hint", () => {
    const lim = limits({ budget: budget({ max: 1_000 }) });
    const state = emptyState();
    admitted(state, lim, costly(), 0);
    admitted(state, lim, costly(), 0);
    expect(rejected(state, lim, costly(), 5)).toEqual({
      name: "budget",
      reason: "limit",
      model: null,
      limit: 1_000,
      remaining: 0,
      requested: 500,
      retryAfterMs: 10,
    });
  });

  it("when spend blocks and the budget never resets, waiting will not help", () => {
    const lim = limits({ budget: budget({ max: 1_000 }) });
    const state = emptyState();
    const a = admitted(state, lim, costly(), 0);
    const b = admitted(state, lim, costly(), 0);
    settle(state, lim, a.requestId, { tokens: 300, cost: 500 }, 10);
    settle(state, lim, b.requestId, { tokens: 200, cost: 300 }, 10);
    expect(rejected(state, lim, costly(), 20)).toEqual({
      name: "budget",
      reason: "limit",
      model: null,
      limit: 1_000,
      remaining: 200,
      requested: 500,
      retryAfterMs: null,
    });
  });

  it("when spend blocks a periodic budget, retry at the reset", () => {
    const lim = limits({ budget: budget({ max: 1_000, period: period(1, "d") }) });
    const state = emptyState();
    const a = admitted(state, lim, costly(), 0);
    settle(state, lim, a.requestId, { tokens: 300, cost: 800 }, 10);
    const next = costly();
    expect(rejected(state, lim, next, 20)).toMatchObject({ reason: "limit", remaining: 200, requested: 500, retryAfterMs: DAY - 20 });
    expectExactRetry(state, lim, next, 20, DAY - 20);
  });

  it("a request costing more than the whole budget is too_large", () => {
    const lim = limits({ budget: budget({ max: 1_000, period: period(1, "d") }) });
    expect(rejected(emptyState(), lim, request({ promptTokens: 1_000, maxOutputTokens: 1, price: price(1, 1) }), 0)).toEqual({
      name: "budget",
      reason: "too_large",
      model: null,
      limit: 1_000,
      remaining: 1_000,
      requested: 1_001,
      retryAfterMs: null,
    });
  });

  it("price_unknown when a hard budget is set and the model has no price", () => {
    expect(rejected(emptyState(), limits({ budget: budget({ max: 1_000 }) }), request({ price: null }), 0)).toEqual({
      name: "budget",
      reason: "price_unknown",
      model: null,
      limit: 1_000,
      remaining: 1_000,
      requested: 0,
      retryAfterMs: null,
    });
  });

  it("an unpriced model is admitted at zero cost when no hard budget is set", () => {
    expect(admitted(emptyState(), limits(), request({ price: null }), 0).cost).toBe(0);
    expect(admitted(emptyState(), limits({ budget: budget({ soft: 10, period: period(1, "d") }) }), request({ price: null }), 0).cost).toBe(0);
  });
});

describe("per-model limits", () => {
  it("apply on top of the key's limits, only to their model", () => {
    const lim = limits({ tpm: 1_000, models: { "gpt-4o": modelLimits({ tpm: 100 }) } });
    const state = emptyState();
    admitted(state, lim, request({ model: "gpt-4o", promptTokens: 60, maxOutputTokens: 30 }), 0);
    const more = request({ model: "gpt-4o", promptTokens: 10, maxOutputTokens: 10 });
    expect(rejected(state, lim, more, 100)).toEqual({
      name: "tokens",
      reason: "limit",
      model: "gpt-4o",
      limit: 100,
      remaining: 10,
      requested: 20,
      retryAfterMs: MINUTE - 100,
    });
    expectExactRetry(state, lim, more, 100, MINUTE - 100);
    admitted(state, lim, request({ model: "mini", promptTokens: 10, maxOutputTokens: 10 }), 100);
    const view = snapshot(state, lim, 100);
    expect(view.window.tokens).toBe(110);
    expect(view.models["gpt-4o"]?.window?.tokens).toBe(90);
  });

  it("the key's limit still binds traffic to a model with a looser limit", () => {
    const lim = limits({ tpm: 100, models: { "gpt-4o": modelLimits({ tpm: 1_000 }) } });
    const state = emptyState();
    admitted(state, lim, request({ model: "mini", promptTokens: 90, maxOutputTokens: 0 }), 0);
    expect(rejected(state, lim, request({ model: "gpt-4o", promptTokens: 20, maxOutputTokens: 0 }), 100)).toMatchObject({
      name: "tokens",
      model: null,
      limit: 100,
      remaining: 10,
      requested: 20,
    });
  });

  it("per-model rpm", () => {
    const lim = limits({ models: { "gpt-4o": modelLimits({ rpm: 2 }) } });
    const state = emptyState();
    admitted(state, lim, request({ model: "gpt-4o" }), 0);
    admitted(state, lim, request({ model: "gpt-4o" }), 0);
    expect(rejected(state, lim, request({ model: "gpt-4o" }), 500)).toEqual({
      name: "requests",
      reason: "limit",
      model: "gpt-4o",
      limit: 2,
      remaining: 0,
      requested: 1,
      retryAfterMs: MINUTE - 500,
    });
    admitted(state, lim, request({ model: "mini" }), 500);
  });

  it("per-model budget", () => {
    const lim = limits({ models: { "gpt-4o": modelLimits({ budget: budget({ max: 100 }) }) } });
    const state = emptyState();
    const priced = (model: string): AdmissionRequest => request({ model, promptTokens: 30, maxOutputTokens: 30, price: price(1, 1) });
    admitted(state, lim, priced("gpt-4o"), 0);
    expect(rejected(state, lim, priced("gpt-4o"), 0)).toEqual({
      name: "budget",
      reason: "limit",
      model: "gpt-4o",
      limit: 100,
      remaining: 40,
      requested: 60,
      retryAfterMs: 10,
    });
    admitted(state, lim, priced("mini"), 0);
    expect(rejected(state, lim, request({ model: "gpt-4o", price: null }), 0)).toMatchObject({
      name: "budget",
      reason: "price_unknown",
      model: "gpt-4o",
      retryAfterMs: null,
    });
    expect(admitted(state, lim, request({ model: "mini", price: null }), 0).cost).toBe(0);
  });

  it("a model name that is an Object.prototype key gets no limits of its own", () => {
    const lim = limits({ tpm: 1_000 });
    const state = emptyState();
    for (const model of ["constructor", "toString", "__proto__", "hasOwnProperty"]) admitted(state, lim, request({ model }), 0);
    expect([...state.windows.keys()]).toEqual(["*"]);
    expect([...state.budgets.keys()]).toEqual(["*"]);
  });
});

describe("output estimate without a client cap", () => {
  it("is clamped so the first request under a tiny tpm limit is admitted", () => {
    const lim = limits({ tpm: 50, defaultOutputTokens: 256 });
    const reservation = admitted(emptyState(), lim, request({ promptTokens: 10, maxOutputTokens: null }), 0);
    expect(reservation.tokens).toBe(50);
  });

  it("is clamped to the tightest of the key and model limits, and priced accordingly", () => {
    const lim = limits({ tpm: 50, defaultOutputTokens: 256, models: { "gpt-4o": modelLimits({ tpm: 30 }) } });
    const reservation = admitted(emptyState(), lim, request({ model: "gpt-4o", promptTokens: 10, maxOutputTokens: null, price: price(1, 2) }), 0);
    expect(reservation.tokens).toBe(30);
    expect(reservation.cost).toBe(10 + 2 * 20);
  });

  it("is the configured default when no tpm limit applies", () => {
    expect(admitted(emptyState(), limits({ defaultOutputTokens: 256 }), request({ promptTokens: 10, maxOutputTokens: null }), 0).tokens).toBe(266);
  });

  it("is zero when the prompt alone exceeds the limit, which is then too_large", () => {
    expect(rejected(emptyState(), limits({ tpm: 50 }), request({ promptTokens: 60, maxOutputTokens: null }), 0)).toMatchObject({
      name: "tokens",
      reason: "too_large",
      requested: 60,
      retryAfterMs: null,
    });
  });

  it("a client cap is taken as given", () => {
    expect(admitted(emptyState(), limits({ tpm: 500 }), request({ promptTokens: 10, maxOutputTokens: 300 }), 0).tokens).toBe(310);
  });
});

describe("several limits tripped at once", () => {
  it("reports the one with the longest wait (tokens over requests)", () => {
    const lim = limits({ rpm: 2, tpm: 100 });
    const state = emptyState();
    admitted(state, lim, request({ promptTokens: 5, maxOutputTokens: 0 }), 0);
    admitted(state, lim, request({ promptTokens: 45, maxOutputTokens: 45 }), 1_000);
    const next = request({ promptTokens: 10, maxOutputTokens: 10 });
    // requests free at 60 000 (first bucket), 20 tokens only once the second bucket leaves at 61 000.
    expect(rejected(state, lim, next, 2_000)).toMatchObject({ name: "tokens", model: null, retryAfterMs: 59_000 });
    expectExactRetry(state, lim, next, 2_000, 59_000);
  });

  it("reports the one with the longest wait (a model's requests over the key's tokens)", () => {
    const lim = limits({ tpm: 100, models: { "gpt-4o": modelLimits({ rpm: 1 }) } });
    const state = emptyState();
    admitted(state, lim, request({ model: "mini", promptTokens: 90, maxOutputTokens: 0 }), 0);
    admitted(state, lim, request({ model: "gpt-4o", promptTokens: 5, maxOutputTokens: 0 }), 1_000);
    const next = request({ model: "gpt-4o", promptTokens: 10, maxOutputTokens: 0 });
    expect(rejected(state, lim, next, 2_000)).toMatchObject({ name: "requests", model: "gpt-4o", retryAfterMs: 59_000 });
    expectExactRetry(state, lim, next, 2_000, 59_000);
  });

  it("a window wait beats the short parallel hint", () => {
    const lim = limits({ rpm: 1, maxParallel: 1 });
    const state = emptyState();
    admitted(state, lim, request(), 0);
    expect(rejected(state, lim, request(), 1_000)).toMatchObject({ name: "requests", retryAfterMs: 59_000 });
  });

  it("a rejection waiting cannot fix beats any wait, wherever it comes in the list", () => {
    const rpmFull = limits({ rpm: 1, tpm: 100 });
    const state = emptyState();
    admitted(state, rpmFull, request(), 0);
    expect(rejected(state, rpmFull, request({ promptTokens: 200 }), 1_000)).toMatchObject({ name: "tokens", reason: "too_large", retryAfterMs: null });

    const noParallel = limits({ maxParallel: 0, rpm: 1 });
    const other = emptyState();
    admitted(other, limits({ rpm: 1 }), request(), 0);
    expect(rejected(other, noParallel, request(), 1_000)).toMatchObject({ name: "parallel_requests", reason: "too_large", retryAfterMs: null });

    const unpriced = limits({ tpm: 100, budget: budget({ max: 10 }) });
    const third = emptyState();
    admitted(third, unpriced, request({ promptTokens: 90, maxOutputTokens: 0, price: price(0, 0) }), 0);
    expect(rejected(third, unpriced, request({ promptTokens: 20, price: null }), 1_000)).toMatchObject({
      name: "budget",
      reason: "price_unknown",
      retryAfterMs: null,
    });
  });
});
