import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  advance,
  costOf,
  extend,
  INPUT,
  learn,
  OUTPUT,
  release,
  settle,
  WHOLE,
  worstCost,
  type LimiterState,
  type Limits,
  type Price,
  type TokenSplit,
} from "../../src/limiter";
import { admitted, budget, emptyState, limits, MINUTE, price, rejected, request } from "../helpers/limiter-fixtures";

// Provider-faithful counting in the pure core: Anthropic's separate input and output limits (ITPM / OTPM) and
// OpenAI's request-time TPM (keepReservation), plus the cost of cached prompt tokens. Clock values are ms and
// multiples of the 100 ms bucket width, so every admission's bucket is its own admission time.

const ITPM = 1_000;
const OTPM = 500;
const split = limits({ inputTpm: ITPM, outputTpm: OTPM });

/** Tokens counted in `scope` now (after advancing to `clock`, so expired buckets are gone). */
function counted(state: LimiterState, lim: Limits, scope: string, clock: number): number {
  advance(state, lim, clock);
  return (state.windows.get(scope)?.buckets ?? []).reduce((sum, bucket) => sum + bucket.tokens, 0);
}

function windows(state: LimiterState, lim: Limits, clock: number) {
  return { whole: counted(state, lim, WHOLE, clock), input: counted(state, lim, INPUT, clock), output: counted(state, lim, OUTPUT, clock) };
}

function spendOf(state: LimiterState) {
  const found = state.budgets.get(WHOLE);
  if (!found) throw new Error("no budget yet");
  return { spend: found.spend, reserved: found.reserved };
}

describe("inputTpm and outputTpm (Anthropic's ITPM and OTPM)", () => {
  it("a call holds its prompt in the input window and its output cap in the output window", () => {
    const state = emptyState();
    admitted(state, split, request({ promptTokens: 300, maxOutputTokens: 200 }), 1_000);
    expect(state.windows.get(INPUT)?.buckets).toEqual([{ time: 1_000, tokens: 300, requests: 1 }]);
    expect(state.windows.get(OUTPUT)?.buckets).toEqual([{ time: 1_000, tokens: 200, requests: 1 }]);
    expect(state.windows.get(WHOLE)?.buckets).toEqual([{ time: 1_000, tokens: 500, requests: 1 }]);
  });

  it("under the adaptive policy the output window still holds the whole cap, even once the owner has learned short outputs", () => {
    const adaptive = limits({ policy: "adaptive", inputTpm: ITPM, outputTpm: OTPM });
    const withoutOtpm = limits({ policy: "adaptive" });
    const state = emptyState();
    for (let sample = 0; sample < 50; sample++) learn(state.estimates, "gpt-4o", { outputTokens: 10 }, 0);
    const call = () => request({ promptTokens: 300, promptExact: true, maxOutputTokens: 200 });

    // The learning is real: an owner without an output limit reserves far below the cap for this call.
    const probe = structuredClone(state);
    expect(admitted(probe, withoutOtpm, call(), 1_000).tokens).toBeLessThan(300 + 200);

    const reservation = admitted(state, adaptive, call(), 1_000);
    expect(reservation.tokens).toBe(500);
    expect(windows(state, adaptive, 1_000)).toEqual({ whole: 500, input: 300, output: 200 });
  });

  it('is refused as "input_tokens" when the input window is full, with the exact wait until enough leaves it', () => {
    const state = emptyState();
    admitted(state, split, request({ promptTokens: 800, maxOutputTokens: 10 }), 1_000);
    // 800 + 300 > 1000: 100 must leave, and the first bucket (stamped 1000) leaves at 61000.
    expect(rejected(state, split, request({ promptTokens: 300, maxOutputTokens: 10 }), 5_000)).toEqual({
      name: "input_tokens",
      reason: "limit",
      model: null,
      limit: ITPM,
      remaining: 200,
      requested: 300,
      retryAfterMs: 1_000 + MINUTE - 5_000,
    });
    // Output has room; only the input part is refused, and a prompt that fits is admitted.
    admitted(state, split, request({ promptTokens: 200, maxOutputTokens: 10 }), 5_000);
  });

  it('is refused as "output_tokens" when the output window is full, with the exact wait until enough leaves it', () => {
    const state = emptyState();
    admitted(state, split, request({ promptTokens: 10, maxOutputTokens: 400 }), 1_000);
    admitted(state, split, request({ promptTokens: 10, maxOutputTokens: 50 }), 3_000);
    // 450 held; 200 more needs 150 to leave: the 400 stamped 1000 leaves at 61000.
    expect(rejected(state, split, request({ promptTokens: 10, maxOutputTokens: 200 }), 4_000)).toEqual({
      name: "output_tokens",
      reason: "limit",
      model: null,
      limit: OTPM,
      remaining: 50,
      requested: 200,
      retryAfterMs: 1_000 + MINUTE - 4_000,
    });
    // Once that bucket has left, the call fits.
    admitted(state, split, request({ promptTokens: 10, maxOutputTokens: 200 }), 1_000 + MINUTE);
  });

  it("settlement replaces the reservation with the real prompt in the input window and the real completion in the output window", () => {
    const state = emptyState();
    const reservation = admitted(state, split, request({ promptTokens: 300, maxOutputTokens: 200 }), 1_000);
    settle(state, split, reservation.requestId, { tokens: 290, cost: 0 }, 2_000, { prompt: 250, completion: 40 });
    expect(windows(state, split, 2_000)).toEqual({ whole: 290, input: 250, output: 40 });
    // What settled frees room: 750 input and 460 output are left.
    admitted(state, split, request({ promptTokens: 750, maxOutputTokens: 460 }), 2_000);
  });

  it("cache reads leave the input window; cache writes stay in it", () => {
    const state = emptyState();
    const reservation = admitted(state, split, request({ promptTokens: 300, maxOutputTokens: 200 }), 1_000);
    settle(state, split, reservation.requestId, { tokens: 290, cost: 0 }, 2_000, { prompt: 250, completion: 40, cacheRead: 100, cacheWrite: 50 });
    expect(windows(state, split, 2_000)).toEqual({ whole: 290, input: 150, output: 40 });
  });

  it("cache reads count toward the input window when the owner counts them (inputCountsCacheReads)", () => {
    const reads = limits({ inputTpm: ITPM, outputTpm: OTPM, inputCountsCacheReads: true });
    const state = emptyState();
    const reservation = admitted(state, reads, request({ promptTokens: 300, maxOutputTokens: 200 }), 1_000);
    settle(state, reads, reservation.requestId, { tokens: 290, cost: 0 }, 2_000, { prompt: 250, completion: 40, cacheRead: 100, cacheWrite: 50 });
    expect(windows(state, reads, 2_000)).toEqual({ whole: 290, input: 250, output: 40 });
  });

  it("a stream top-up (extend) grows only the output window, and settlement then replaces both parts", () => {
    const state = emptyState();
    const reservation = admitted(state, split, request({ promptTokens: 300, maxOutputTokens: 200 }), 1_000);
    expect(extend(state, split, reservation.requestId, 64, 2_000)).toBe(true);
    expect(windows(state, split, 2_000)).toEqual({ whole: 564, input: 300, output: 264 });
    settle(state, split, reservation.requestId, { tokens: 530, cost: 0 }, 3_000, { prompt: 280, completion: 250 });
    expect(windows(state, split, 3_000)).toEqual({ whole: 530, input: 280, output: 250 });
  });

  it("release gives both parts back, the request still counted", () => {
    const state = emptyState();
    const reservation = admitted(state, split, request({ promptTokens: 300, maxOutputTokens: 200 }), 1_000);
    release(state, split, reservation.requestId, 2_000);
    expect(state.windows.get(INPUT)?.buckets).toEqual([{ time: 1_000, tokens: 0, requests: 1 }]);
    expect(state.windows.get(OUTPUT)?.buckets).toEqual([{ time: 1_000, tokens: 0, requests: 1 }]);
    admitted(state, split, request({ promptTokens: ITPM, maxOutputTokens: OTPM }), 2_000);
  });

  it("a prompt over inputTpm whose lower bound fits is admitted alone, held at the limit", () => {
    const state = emptyState();
    const big = admitted(state, split, request({ promptTokens: 1_500, promptLowerBound: 400, maxOutputTokens: 100 }), 1_000);
    expect(big.inputTokens).toBe(ITPM);
    expect(windows(state, split, 1_000)).toEqual({ whole: 1_600, input: ITPM, output: 100 });
    // Nothing else gets in until it leaves the window...
    expect(rejected(state, split, request({ promptTokens: 1, maxOutputTokens: 1 }), 2_000)).toMatchObject({
      name: "input_tokens",
      reason: "limit",
      retryAfterMs: 1_000 + MINUTE - 2_000,
    });
    // ...and a prompt whose lower bound is over the limit can never be admitted.
    expect(rejected(emptyState(), split, request({ promptTokens: 1_500, promptLowerBound: 1_001, maxOutputTokens: 100 }), 1_000)).toMatchObject({
      name: "input_tokens",
      reason: "too_large",
      retryAfterMs: null,
    });
  });

  it("an output cap above outputTpm is too_large, whatever the window holds", () => {
    expect(rejected(emptyState(), split, request({ promptTokens: 10, maxOutputTokens: OTPM + 1 }), 1_000)).toEqual({
      name: "output_tokens",
      reason: "too_large",
      model: null,
      limit: OTPM,
      remaining: OTPM,
      requested: OTPM + 1,
      retryAfterMs: null,
    });
    admitted(emptyState(), split, request({ promptTokens: 10, maxOutputTokens: OTPM }), 1_000);
  });
});

describe("keepReservation (OpenAI's request-time TPM)", () => {
  // price(1, 2): 100 prompt tokens and a 300-token cap reserve 400 tokens and 100 + 600 = 700 nano-dollars.
  const keep = limits({ tpm: 1_000, keepReservation: true, budget: budget({ max: 1_000_000 }) });
  const call = () => request({ promptTokens: 100, maxOutputTokens: 300, price: price(1, 2) });

  it("settling lower than reserved keeps the reservation in the window but books the real cost", () => {
    const state = emptyState();
    const reservation = admitted(state, keep, call(), 1_000);
    expect(spendOf(state)).toEqual({ spend: 0, reserved: 700 });
    settle(state, keep, reservation.requestId, { tokens: 50, cost: 60 }, 2_000, { prompt: 40, completion: 10 });
    expect(state.windows.get(WHOLE)?.buckets).toEqual([{ time: 1_000, tokens: 400, requests: 1 }]);
    expect(spendOf(state)).toEqual({ spend: 60, reserved: 0 });
  });

  it("settling higher than reserved counts the real usage", () => {
    const state = emptyState();
    const reservation = admitted(state, keep, call(), 1_000);
    settle(state, keep, reservation.requestId, { tokens: 520, cost: 900 }, 2_000, { prompt: 120, completion: 400 });
    expect(state.windows.get(WHOLE)?.buckets).toEqual([{ time: 1_000, tokens: 520, requests: 1 }]);
    expect(spendOf(state)).toEqual({ spend: 900, reserved: 0 });
  });

  it("refuses the call that the reservations fill up, however little the admitted calls really used", () => {
    const state = emptyState();
    for (const clock of [1_000, 2_000]) {
      const reservation = admitted(state, keep, call(), clock);
      settle(state, keep, reservation.requestId, { tokens: 15, cost: 20 }, clock + 500, { prompt: 10, completion: 5 });
    }
    // Real usage is 30 tokens, but 800 are kept: a third 400 does not fit in 1000.
    expect(rejected(state, keep, call(), 3_000)).toMatchObject({ name: "tokens", reason: "limit", remaining: 200, requested: 400, retryAfterMs: 1_000 + MINUTE - 3_000 });
    // The same calls settled by usage would have left room for it.
    const usage = limits({ tpm: 1_000, budget: budget({ max: 1_000_000 }) });
    const byUsage = emptyState();
    for (const clock of [1_000, 2_000]) {
      const reservation = admitted(byUsage, usage, call(), clock);
      settle(byUsage, usage, reservation.requestId, { tokens: 15, cost: 20 }, clock + 500, { prompt: 10, completion: 5 });
    }
    admitted(byUsage, usage, call(), 3_000);
  });

  it("keeps each part of an input/output split reservation too", () => {
    const both = limits({ inputTpm: ITPM, outputTpm: OTPM, keepReservation: true });
    const state = emptyState();
    const reservation = admitted(state, both, request({ promptTokens: 300, maxOutputTokens: 200 }), 1_000);
    settle(state, both, reservation.requestId, { tokens: 290, cost: 0 }, 2_000, { prompt: 250, completion: 40 });
    expect(windows(state, both, 2_000)).toEqual({ whole: 500, input: 300, output: 200 });
  });

  it("release (nothing reached the provider) gives the tokens and the money back", () => {
    const state = emptyState();
    const reservation = admitted(state, keep, call(), 1_000);
    release(state, keep, reservation.requestId, 2_000);
    expect(state.windows.get(WHOLE)?.buckets).toEqual([{ time: 1_000, tokens: 0, requests: 1 }]);
    expect(spendOf(state)).toEqual({ spend: 0, reserved: 0 });
  });
});

describe("the cost of cached prompt tokens", () => {
  // Nano-dollars per token: 10 in, 40 out, reads 1, 5-minute writes 12.5, 1-hour writes 20.
  const full: Price = { input: 10, output: 40, cacheRead: 1, cacheWrite: 12.5, cacheWrite1h: 20 };
  // 1000 prompt tokens: 300 read, 200 written (50 of them for an hour), 500 plain; 100 completion tokens.
  const used: TokenSplit = { prompt: 1_000, completion: 100, cacheRead: 300, cacheWrite: 200, cacheWrite1h: 50 };

  it("charges reads, 5-minute writes and 1-hour writes at their own prices, the rest at input, completion at output", () => {
    // 500 * 10 + 300 * 1 + 150 * 12.5 + 50 * 20 + 100 * 40
    expect(costOf(full, used)).toBe(5_000 + 300 + 1_875 + 1_000 + 4_000);
  });

  it("a missing cache price falls back: reads and writes to input, 1-hour writes to the 5-minute write price", () => {
    expect(costOf({ input: 10, output: 40 }, used)).toBe(1_000 * 10 + 4_000);
    expect(costOf({ input: 10, output: 40, cacheRead: 1 }, used)).toBe(700 * 10 + 300 + 4_000);
    expect(costOf({ input: 10, output: 40, cacheWrite: 12.5 }, used)).toBe(800 * 10 + 200 * 12.5 + 4_000);
  });

  it("worst case: with cache writes every prompt token at the dearest write price, without them at input", () => {
    expect(worstCost(full, 1_000, 100, true)).toBe(1_000 * 20 + 100 * 40);
    expect(worstCost(full, 1_000, 100, false)).toBe(1_000 * 10 + 100 * 40);
    expect(worstCost({ input: 10, output: 40, cacheWrite: 12.5 }, 1_000, 100, true)).toBe(1_000 * 12.5 + 100 * 40);
    expect(worstCost({ input: 10, output: 40 }, 1_000, 100, true)).toBe(1_000 * 10 + 100 * 40);
  });

  it("admission reserves money at the write price when the prompt may be written to the cache", () => {
    const lim = limits({ budget: budget({ max: 1_000_000 }) });
    const state = emptyState();
    expect(admitted(state, lim, request({ promptTokens: 1_000, maxOutputTokens: 100, price: full, cacheWrites: true }), 1_000).cost).toBe(24_000);
    expect(admitted(state, lim, request({ promptTokens: 1_000, maxOutputTokens: 100, price: full }), 1_000).cost).toBe(14_000);
  });

  it("tokens billed at one price cost the same however the usage splits them (no floating-point overrun)", () => {
    // With no cache-read price, cached tokens cost the input price: 10 prompt tokens at 1.1 are 11, cached or not.
    expect(costOf({ input: 1.1, output: 0 }, { prompt: 10, completion: 0 })).toBe(11);
    expect(costOf({ input: 1.1, output: 0 }, { prompt: 10, completion: 0, cacheRead: 3 })).toBe(11);
    expect(worstCost({ input: 1.1, output: 0 }, 10, 0, true)).toBe(11);
  });

  it("property: the real cost never exceeds the worst case reserved with cache writes", () => {
    const rate = fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.double({ min: 0, max: 100_000, noNaN: true }));
    const priceArb = fc
      .record(
        { input: rate, output: rate, cacheRead: fc.option(rate, { nil: undefined }), cacheWrite: fc.option(rate, { nil: undefined }), cacheWrite1h: fc.option(rate, { nil: undefined }) },
        { requiredKeys: ["input", "output"] },
      )
      // Every provider bills a cache read below (or at) the input price.
      .map((p): Price => {
        const out: { -readonly [K in keyof Price]: Price[K] } = { input: p.input, output: p.output };
        if (p.cacheRead !== undefined) out.cacheRead = Math.min(p.cacheRead, p.input);
        if (p.cacheWrite !== undefined) out.cacheWrite = p.cacheWrite;
        if (p.cacheWrite1h !== undefined) out.cacheWrite1h = p.cacheWrite1h;
        return out;
      });
    const tokens = fc.integer({ min: 0, max: 2_000_000 });
    fc.assert(
      fc.property(priceArb, tokens, tokens, tokens, tokens, tokens, tokens, tokens, (p, reservedPrompt, cap, prompt, completion, read, write, write1h) => {
        fc.pre(prompt <= reservedPrompt && completion <= cap);
        const real: TokenSplit = { prompt, completion, cacheRead: read, cacheWrite: write, cacheWrite1h: write1h };
        expect(costOf(p, real)).toBeLessThanOrEqual(worstCost(p, reservedPrompt, cap, true));
      }),
      {
        numRuns: 2_000,
        // $1.10/M input (o3-mini, o4-mini) with no cache-read price: 7 plain + 3 cached tokens at 1.1 each sum to
        // 11.000000000000002 in floating point, which the ceiling makes 12, over the 11 reserved for 10 tokens.
        examples: [[{ input: 1.1, output: 0 }, 10, 0, 10, 0, 3, 0, 0]],
      },
    );
  });
});
