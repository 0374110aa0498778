import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { admit, emptyState, extend, MIN_SAMPLES, MARGIN, POOLED_MARGIN_SIGMAS, settle, WHOLE, type LimiterState, type Limits } from "../../src/limiter";
import { usage } from "../../src/limiter/window";
import { admitted, limits, MINUTE, price, rejected, request, SECOND } from "../helpers/limiter-fixtures";

const adaptive = (overrides: Partial<Limits> = {}) => limits({ policy: "adaptive", ...overrides });
const windowTokens = (state: LimiterState) => usage(state.windows.get(WHOLE) ?? { buckets: [] }).tokens;

/** Settles `n` calls of `model` whose real output was `output` tokens, each admitted and finished at once. */
function learnOutputs(state: LimiterState, lim: Limits, n: number, output: number, at: number, model = "gpt-4o"): number {
  let clock = at;
  for (let index = 0; index < n; index++) {
    const reservation = admitted(state, lim, request({ model, promptTokens: 10, promptExact: true, maxOutputTokens: 4_096 }), clock);
    clock += 10;
    settle(state, lim, reservation.requestId, { tokens: 10 + output, cost: 0 }, clock, { prompt: 10, completion: output });
  }
  return clock;
}

describe("adaptive output reservations", () => {
  it("reserve the full cap until the model has MIN_SAMPLES real lengths", () => {
    const state = emptyState();
    const lim = adaptive();
    const clock = learnOutputs(state, lim, MIN_SAMPLES - 1, 200, 0);
    expect(admitted(state, lim, request({ promptTokens: 10, promptExact: true, maxOutputTokens: 4_096 }), clock).tokens).toBe(10 + 4_096);
  });

  it("then reserve the learned mean, far below max_tokens, never above it", () => {
    const state = emptyState();
    const lim = adaptive();
    const clock = learnOutputs(state, lim, 20, 200, 0);
    const reserved = admitted(state, lim, request({ promptTokens: 10, promptExact: true, maxOutputTokens: 4_096 }), clock).tokens - 10;
    // The sketch answers with its bucket's upper edge: at least the real 200, at most one bucket (10%) above.
    expect(reserved).toBeGreaterThanOrEqual(200);
    expect(reserved).toBeLessThanOrEqual(Math.ceil(200 * 1.1) + 1);
    // A smaller cap than the learned estimate wins.
    expect(admitted(state, lim, request({ promptTokens: 10, promptExact: true, maxOutputTokens: 50 }), clock).tokens).toBe(60);
  });

  it("learn per model: another model still reserves its cap", () => {
    const state = emptyState();
    const lim = adaptive();
    const clock = learnOutputs(state, lim, 20, 200, 0, "gpt-4o");
    expect(admitted(state, lim, request({ model: "claude-x", promptTokens: 10, promptExact: true, maxOutputTokens: 4_096 }), clock).tokens).toBe(4_106);
  });

  it("strict ignores what was learned and reserves the full cap", () => {
    const state = emptyState();
    const clock = learnOutputs(state, adaptive(), 20, 200, 0);
    expect(admitted(state, limits({ policy: "strict" }), request({ promptTokens: 10, promptExact: true, maxOutputTokens: 4_096 }), clock).tokens).toBe(4_106);
  });

  it("keep money strict: the budget reservation is the worst case whatever the token estimate", () => {
    const state = emptyState();
    const lim = adaptive();
    const clock = learnOutputs(state, lim, 20, 200, 0);
    const reservation = admitted(state, lim, request({ promptTokens: 10, promptExact: true, maxOutputTokens: 4_096, price: price(1, 2) }), clock);
    expect(reservation.tokens).toBeLessThan(1_000);
    expect(reservation.cost).toBe(10 * 1 + 4_096 * 2);
  });
});

describe("prompt calibration for models without a known tokenizer", () => {
  it("reserves the byte bound until samples show the real ratio, then the calibrated bound", () => {
    const state = emptyState();
    const lim = adaptive();
    let clock = 0;
    for (let index = 0; index < MIN_SAMPLES; index++) {
      const reservation = admitted(state, lim, request({ model: "llama", promptTokens: 4_000, maxOutputTokens: 0 }), clock);
      expect(reservation.tokens).toBe(4_000);
      clock += 10;
      settle(state, lim, reservation.requestId, { tokens: 1_000, cost: 0 }, clock, { prompt: 1_000, completion: 0 });
    }
    const calibrated = admitted(state, lim, request({ model: "llama", promptTokens: 4_000, maxOutputTokens: 0 }), clock).tokens;
    expect(calibrated).toBeGreaterThanOrEqual(1_000 * MARGIN);
    expect(calibrated).toBeLessThan(1_400);
    // An exact count is never calibrated.
    expect(admitted(state, lim, request({ model: "llama", promptTokens: 4_000, promptExact: true, maxOutputTokens: 0 }), clock).tokens).toBe(4_000);
  });
});

describe("a request whose estimate exceeds the limit", () => {
  it("is admitted alone, against an empty window, when its lower bound fits (adaptive)", () => {
    const state = emptyState();
    const lim = adaptive({ tpm: 1_000 });
    const big = request({ promptTokens: 4_000, promptLowerBound: 600, maxOutputTokens: 100 });
    const reservation = admitted(state, lim, big, 0);
    expect(reservation.tokens).toBe(1_000);
    settle(state, lim, reservation.requestId, { tokens: 700, cost: 0 }, 1_000, { prompt: 650, completion: 50 });
    expect(windowTokens(state)).toBe(700);
  });

  it("waits for the window to empty, and is told exactly when that is", () => {
    const state = emptyState();
    const lim = adaptive({ tpm: 1_000 });
    admitted(state, lim, request({ promptTokens: 10, promptExact: true, maxOutputTokens: 10 }), 5 * SECOND);
    const big = request({ promptTokens: 4_000, promptLowerBound: 600, maxOutputTokens: 100 });
    const refusal = rejected(state, lim, big, 6 * SECOND);
    expect(refusal.reason).toBe("limit");
    expect(refusal.retryAfterMs).toBe(5 * SECOND + MINUTE - 6 * SECOND);
    expect(admit(structuredClone(state), lim, big, 5 * SECOND + MINUTE).ok).toBe(true);
  });

  it("is too large only when its lower bound exceeds the limit", () => {
    const state = emptyState();
    const refusal = rejected(state, adaptive({ tpm: 1_000 }), request({ promptTokens: 4_000, promptLowerBound: 1_001, maxOutputTokens: 0 }), 0);
    expect(refusal).toMatchObject({ name: "tokens", reason: "too_large", retryAfterMs: null });
  });

  it("is refused as too large under strict, which must prove the call fits", () => {
    const refusal = rejected(emptyState(), limits({ policy: "strict", tpm: 1_000 }), request({ promptTokens: 4_000, promptLowerBound: 600, maxOutputTokens: 100 }), 0);
    expect(refusal).toMatchObject({ name: "tokens", reason: "too_large", retryAfterMs: null });
  });
});

describe("top-ups of a call generating past its reservation", () => {
  it("charge the window at once, over the limit if need be, and settlement replaces them with the real total", () => {
    const state = emptyState();
    const lim = adaptive({ tpm: 500 });
    const reservation = admitted(state, lim, request({ promptTokens: 100, promptExact: true, maxOutputTokens: 300 }), 0);
    expect(windowTokens(state)).toBe(400);
    expect(extend(state, lim, reservation.requestId, 250, 100)).toBe(true);
    expect(windowTokens(state)).toBe(650);
    expect(state.reservations.get(reservation.requestId)!.tokens).toBe(650);
    // Later admissions wait for what is being generated.
    expect(admit(structuredClone(state), lim, request({ promptTokens: 1, promptExact: true, maxOutputTokens: 0 }), 200).ok).toBe(false);
    settle(state, lim, reservation.requestId, { tokens: 600, cost: 0 }, 300, { prompt: 100, completion: 500 });
    expect(windowTokens(state)).toBe(600);
  });

  it("do nothing once the reservation has ended", () => {
    const state = emptyState();
    const lim = adaptive();
    const reservation = admitted(state, lim, request(), 0);
    settle(state, lim, reservation.requestId, { tokens: 5, cost: 0 }, 10);
    expect(extend(state, lim, reservation.requestId, 100, 20)).toBe(false);
    expect(windowTokens(state)).toBe(5);
  });
});

describe("adaptive windows stay within their documented bound", () => {
  // The bound (README, "Reservation policies"): a window holds at most the limit plus what calls admitted in it
  // used beyond what they had reserved at admission (their overrun), plus any request admitted alone.
  it("never exceed the limit by more than the overrun of the calls admitted in them", () => {
    const TPM = 2_000;
    const op = fc.oneof(
      fc.record({ kind: fc.constant("admit" as const), prompt: fc.integer({ min: 0, max: 400 }), cap: fc.integer({ min: 0, max: 1_500 }) }),
      fc.record({ kind: fc.constant("end" as const), pick: fc.nat(), real: fc.integer({ min: 0, max: 1_500 }), topUp: fc.boolean() }),
      fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 20 * SECOND }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 150 }), (ops) => {
        const state = emptyState();
        const lim = adaptive({ tpm: TPM, windowMs: MINUTE });
        let clock = 0;
        let next = 0;
        const live: Array<{ id: string; reserved: number; at: number }> = [];
        const overruns: Array<{ at: number; tokens: number }> = [];
        for (const step of ops) {
          if (step.kind === "wait") clock += step.ms;
          else if (step.kind === "admit") {
            const result = admit(state, lim, request({ requestId: `r${next++}`, promptTokens: step.prompt, promptExact: true, maxOutputTokens: step.cap }), clock);
            if (result.ok) live.push({ id: result.reservation.requestId, reserved: result.reservation.tokens, at: clock });
          } else if (live.length > 0) {
            const [call] = live.splice(step.pick % live.length, 1);
            const real = step.real;
            if (step.topUp && real > call!.reserved) extend(state, lim, call!.id, real - call!.reserved, clock);
            settle(state, lim, call!.id, { tokens: real, cost: 0 }, clock, { prompt: 0, completion: real });
            if (real > call!.reserved) overruns.push({ at: call!.at, tokens: real - call!.reserved });
          }
          const inWindow = overruns.filter((overrun) => overrun.at > clock - MINUTE).reduce((sum, overrun) => sum + overrun.tokens, 0);
          expect(windowTokens(state)).toBeLessThanOrEqual(TPM + inWindow);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("a refusal caused by calls in flight", () => {
  /** Ten calls of 1 s each that used 10 prompt + 50 output tokens: durations and output lengths are known. */
  function withHistory(): { state: LimiterState; clock: number } {
    const lim = limits({ policy: "strict" });
    const state = emptyState();
    let clock = 0;
    for (let index = 0; index < 10; index++) {
      const reservation = admitted(state, lim, request({ promptTokens: 10, promptExact: true, maxOutputTokens: 500 }), clock);
      clock += SECOND;
      settle(state, lim, reservation.requestId, { tokens: 60, cost: 0 }, clock, { prompt: 10, completion: 50 });
    }
    return { state, clock: clock + MINUTE };
  }

  it("hints when the oldest call is expected to end and give back what it holds above typical use", () => {
    const lim = limits({ policy: "strict", tpm: 1_000 });
    const { state, clock } = withHistory();
    admitted(state, lim, request({ promptTokens: 10, promptExact: true, maxOutputTokens: 490 }), clock);
    admitted(state, lim, request({ promptTokens: 10, promptExact: true, maxOutputTokens: 400 }), clock + 200);
    const refusal = rejected(state, lim, request({ promptTokens: 10, promptExact: true, maxOutputTokens: 200 }), clock + 300);
    expect(refusal.inFlight).toEqual({ calls: 2, tokens: 910 });
    // The first call (admitted at `clock`) typically ends 1 s later, giving back 500 - 60 = 440: enough.
    expect(refusal.retryAfterMs).toBeGreaterThanOrEqual(700);
    expect(refusal.retryAfterMs).toBeLessThanOrEqual(700 * 1.1 + 1);
  });

  it("never hints sooner than a quarter of a typical call, even when the calls are overdue", () => {
    const lim = limits({ policy: "strict", tpm: 1_000 });
    const { state, clock } = withHistory();
    admitted(state, lim, request({ promptTokens: 10, promptExact: true, maxOutputTokens: 890 }), clock);
    const refusal = rejected(state, lim, request({ promptTokens: 10, promptExact: true, maxOutputTokens: 200 }), clock + 5 * SECOND);
    expect(refusal.inFlight).toEqual({ calls: 1, tokens: 900 });
    expect(refusal.retryAfterMs).toBeGreaterThanOrEqual(250);
  });

  it("keeps the exact window wait when what is in flight would not make room", () => {
    const lim = limits({ policy: "strict", tpm: 1_000 });
    const { state, clock } = withHistory();
    admitted(state, lim, request({ promptTokens: 10, promptExact: true, maxOutputTokens: 50 }), clock);
    const big = rejected(state, lim, request({ promptTokens: 10, promptExact: true, maxOutputTokens: 950 }), clock + 100);
    expect(big.inFlight).toBeUndefined();
    expect(big.retryAfterMs).toBe(MINUTE - 100);
  });
});

describe("the pooled margin of adaptive reservations", () => {
  /** Outputs alternating 100 and 500 tokens: mean 300, standard deviation 200. */
  function varied(state: LimiterState, lim: Limits): number {
    let clock = 0;
    for (let index = 0; index < 20; index++) {
      const reservation = admitted(state, lim, request({ promptTokens: 0, promptExact: true, maxOutputTokens: 4_096 }), clock);
      clock += 10;
      const output = index % 2 === 0 ? 100 : 500;
      settle(state, lim, reservation.requestId, { tokens: output, cost: 0 }, clock, { prompt: 0, completion: output });
    }
    return clock + MINUTE;
  }

  it("keeps free about two standard deviations of the summed output in flight, which grows as sqrt(n), not n", () => {
    const TPM = 10_000;
    const state = emptyState();
    const lim = adaptive({ tpm: TPM });
    const clock = varied(state, lim);
    let admittedCalls = 0;
    let reserved = 0;
    for (; admittedCalls < 100; admittedCalls++) {
      const result = admit(state, lim, request({ promptTokens: 0, promptExact: true, maxOutputTokens: 4_096 }), clock);
      if (!result.ok) break;
      reserved += result.reservation.tokens;
      expect(result.reservation.variance).toBeGreaterThan(0);
    }
    const perCall = reserved / admittedCalls;
    expect(perCall).toBeGreaterThanOrEqual(300);
    expect(perCall).toBeLessThan(300 * 1.15);
    // What stays free is the margin for the calls in flight: about 2 x sigma x sqrt(n), far less than n x (p95 - mean).
    const free = TPM - reserved;
    const sigma = Math.sqrt(state.reservations.get([...state.reservations.keys()][0]!)!.variance!);
    expect(free).toBeGreaterThanOrEqual(POOLED_MARGIN_SIGMAS * sigma * Math.sqrt(admittedCalls) - perCall);
    expect(free).toBeLessThan(POOLED_MARGIN_SIGMAS * sigma * Math.sqrt(admittedCalls + 1) + perCall);
    // A p95-with-margin reservation per call (about 565 here) would have admitted 17.
    expect(admittedCalls).toBeGreaterThan(20);
  });

  it("is no part of what makes a request too large", () => {
    const state = emptyState();
    const lim = adaptive({ tpm: 400 });
    const clock = varied(state, limits({ policy: "adaptive" }));
    // 300 reserved + margin > 400, but the request itself fits: it waits for room, it is not too large.
    const result = admit(state, lim, request({ promptTokens: 0, promptExact: true, maxOutputTokens: 4_096 }), clock);
    expect(result.ok).toBe(true);
  });
});
