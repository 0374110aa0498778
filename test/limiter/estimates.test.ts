import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  durationEntry,
  durationEstimate,
  emptyEstimates,
  estimateEntry,
  hydrateEstimates,
  isEstimateEntry,
  learn,
  MARGIN,
  MAX_MODELS,
  MIN_SAMPLES,
  outputEstimate,
  promptEstimate,
  report,
  takeEstimateChanges,
  type Estimates,
  type Sample,
} from "../../src/limiter/estimates";
import { GAMMA, quantileRank, SKETCH_FORMAT } from "../../src/limiter/sketch";

/** Durable Object storage stand-in: applies changes through JSON, as a stored value would round-trip. */
class Store {
  readonly rows = new Map<string, unknown>();
  /** Returns the names written or deleted. */
  persist(estimates: Estimates): string[] {
    return takeEstimateChanges(estimates).map(([name, value]) => {
      if (value === undefined) this.rows.delete(name);
      else this.rows.set(name, JSON.parse(JSON.stringify(value)));
      return name;
    });
  }
  load = (): Estimates => hydrateEstimates(this.rows);
}

function learnMany(samples: readonly Sample[], model = "m", now = 1_000, estimates = emptyEstimates()): Estimates {
  for (const sample of samples) learn(estimates, model, sample, now);
  return estimates;
}

const repeat = <T>(count: number, value: T): T[] => Array.from({ length: count }, () => value);

const trueQuantile = (values: readonly number[], q: number): number =>
  [...values].sort((a, b) => a - b)[quantileRank(q, values.length) - 1]!;

describe("estimate examples", () => {
  it("output falls back to the cap, or the fallback without a cap, before MIN_SAMPLES", () => {
    const estimates = learnMany(repeat(MIN_SAMPLES - 1, { outputTokens: 100 }));
    expect(outputEstimate(estimates, "m", 4_096, 1_000)).toEqual({ tokens: 4_096, learned: false });
    expect(outputEstimate(estimates, "m", null, 1_000)).toEqual({ tokens: 1_000, learned: false });
    expect(outputEstimate(estimates, "other", null, 1_000)).toEqual({ tokens: 1_000, learned: false });
  });

  it("output is learned at p95 with margin from MIN_SAMPLES on", () => {
    const estimates = learnMany(repeat(MIN_SAMPLES, { outputTokens: 100 }));
    const { tokens, learned } = outputEstimate(estimates, "m", 4_096, 1_000);
    expect(learned).toBe(true);
    expect(tokens).toBeGreaterThanOrEqual(Math.ceil(100 * MARGIN));
    expect(tokens).toBeLessThanOrEqual(Math.ceil(100 * GAMMA * MARGIN));
    expect(outputEstimate(estimates, "m", null, 10).tokens).toBe(tokens); // no cap: what the calls really need
  });

  it("output never exceeds a cap below the learned value, and says so", () => {
    const estimates = learnMany(repeat(MIN_SAMPLES, { outputTokens: 1_000 }));
    expect(outputEstimate(estimates, "m", 500, 1_000)).toEqual({ tokens: 500, learned: false });
    expect(outputEstimate(estimates, "m", 0, 1_000)).toEqual({ tokens: 0, learned: false });
  });

  it("prompt is learned from the ratio at p99 with margin", () => {
    const estimates = learnMany(repeat(MIN_SAMPLES, { promptRatio: 0.25 }));
    const { tokens, learned } = promptEstimate(estimates, "m", 10_000);
    expect(learned).toBe(true);
    expect(tokens).toBeGreaterThanOrEqual(Math.ceil(10_000 * 0.25 * MARGIN));
    expect(tokens).toBeLessThanOrEqual(Math.ceil(10_000 * 0.25 * GAMMA * MARGIN));
  });

  it("a ratio above 1 (the byte bound was violated) pins the prompt to its bound for good", () => {
    const estimates = learnMany(repeat(MIN_SAMPLES, { promptRatio: 0.25 }));
    learn(estimates, "m", { promptRatio: 1.3 }, 2_000);
    learnMany(repeat(1_000, { promptRatio: 0.25 }), "m", 3_000, estimates);
    expect(promptEstimate(estimates, "m", 10_000)).toEqual({ tokens: 10_000, learned: false });
    expect(report(estimates).models[0]!.promptBoundBrokenAt).toBe(2_000);
  });

  it("duration is unknown before MIN_SAMPLES, then an upper bound", () => {
    const estimates = learnMany(repeat(MIN_SAMPLES - 1, { durationMs: 800 }));
    expect(durationEstimate(estimates, 0.5)).toBeNull();
    learn(estimates, "other", { durationMs: 800 }, 1_000);
    const p50 = durationEstimate(estimates, 0.5)!;
    expect(p50).toBeGreaterThanOrEqual(800);
    expect(p50).toBeLessThanOrEqual(Math.ceil(800 * GAMMA));
  });

  it("learning ignores what cannot be a measurement, and a duration alone creates no model", () => {
    const estimates = emptyEstimates();
    learn(estimates, "m", { outputTokens: Number.NaN, promptRatio: -1, durationMs: -3 }, 1);
    expect(estimates.changed.size).toBe(0);
    learn(estimates, "m", { durationMs: 5 }, 1);
    expect(estimates.models.size).toBe(0);
    expect([...estimates.changed]).toEqual([durationEntry()]);
  });

  it("the least recently used model is evicted and its entry deleted", () => {
    const estimates = emptyEstimates();
    const store = new Store();
    for (let index = 0; index < MAX_MODELS; index++) learn(estimates, `m${index}`, { outputTokens: 1 }, 100 + index);
    learn(estimates, "m0", { outputTokens: 1 }, 500); // m0 is now the most recent; m1 the least
    store.persist(estimates);
    learn(estimates, "new", { outputTokens: 1 }, 600);
    expect(estimates.models.size).toBe(MAX_MODELS);
    expect(estimates.models.has("m1")).toBe(false);
    expect(estimates.models.has("m0")).toBe(true);
    expect(store.persist(estimates).sort()).toEqual([estimateEntry("m1"), estimateEntry("new")].sort());
    expect(store.rows.has(estimateEntry("m1"))).toBe(false);
  });

  it("learning from one call writes one entry per model plus the duration", () => {
    const estimates = emptyEstimates();
    learn(estimates, "org:gpt-4o", { outputTokens: 10, promptRatio: 0.3, durationMs: 900 }, 1);
    const names = takeEstimateChanges(estimates).map(([name]) => name);
    expect(names.sort()).toEqual([durationEntry(), estimateEntry("org:gpt-4o")].sort());
    expect(estimates.changed.size).toBe(0);
  });

  it("hydration ignores other entries and forgets malformed or older-format ones", () => {
    const store = new Store();
    const live = learnMany(repeat(MIN_SAMPLES, { outputTokens: 40, durationMs: 70 }), "keep");
    store.persist(live);
    store.rows.set("meta", { clock: 1, latencyMs: 0 });
    store.rows.set("w:*:100", [1, 1]);
    store.rows.set(estimateEntry("old"), { ...(store.rows.get(estimateEntry("keep")) as object), v: SKETCH_FORMAT + 1 });
    store.rows.set(estimateEntry("junk"), "not an estimate");
    const loaded = store.load();
    expect([...loaded.models.keys()]).toEqual(["keep"]);
    expect([...loaded.changed].sort()).toEqual([estimateEntry("junk"), estimateEntry("old")]);
    expect(isEstimateEntry("meta") || isEstimateEntry("w:*:100")).toBe(false);
    expect(report(loaded)).toEqual(report(live));
    store.persist(loaded);
    expect(store.rows.has(estimateEntry("old")) || store.rows.has(estimateEntry("junk"))).toBe(false);
  });

  it("the report is JSON-friendly and shows upper-bounded quantiles", () => {
    const estimates = learnMany(repeat(10, { outputTokens: 100, promptRatio: 0.25, durationMs: 1_000 }), "a", 5);
    learn(estimates, "b", { outputTokens: 7 }, 9);
    const view = report(estimates);
    expect(JSON.parse(JSON.stringify(view))).toEqual(view);
    expect(view.models.map((model) => model.model)).toEqual(["b", "a"]);
    const a = view.models[1]!;
    expect(a.outputSamples).toBe(10);
    expect(a.outputP95).toBeGreaterThanOrEqual(100);
    expect(a.promptRatioP99).toBeGreaterThanOrEqual(0.25);
    expect(a.promptRatioP99).toBeLessThanOrEqual(0.25 * GAMMA + 1e-4);
    expect(view.models[0]!.promptRatioP99).toBeNull();
    expect(view.duration.samples).toBe(10);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------------------------

// Few models, so each gathers enough samples to be learned.
const modelArb = fc.constantFrom("m1", "m2", "org:gpt-4o", "*", "");
// Mostly realistic counts, with the odd value a buggy caller might pass (out of range, NaN, Infinity).
const numberArb = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 20_000 }), weight: 8 },
  { arbitrary: fc.double({ min: -10, max: 2e7 }), weight: 1 },
  { arbitrary: fc.constantFrom(Number.NaN, Infinity, 0), weight: 1 },
);
const sampleArb: fc.Arbitrary<Sample> = fc.record(
  {
    outputTokens: numberArb,
    promptRatio: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: -1, max: 3 })),
    durationMs: numberArb,
  },
  { requiredKeys: [] },
);
const opArb = fc.record({ model: modelArb, sample: sampleArb, now: fc.integer({ min: 0, max: 10_000 }) });
type Op = { model: string; sample: Sample; now: number };
/** Arrays that really reach their maximum length (fast-check keeps them short by default). */
const long = <T>(arb: fc.Arbitrary<T>, minLength: number, maxLength: number) => fc.array(arb, { minLength, maxLength, size: "max" });

function learnAll(ops: readonly Op[]): Estimates {
  const estimates = emptyEstimates();
  for (const op of ops) learn(estimates, op.model, op.sample, op.now);
  return estimates;
}

describe("estimate properties", () => {
  it("output never exceeds the cap, is never negative, and is the cap or fallback before MIN_SAMPLES", () => {
    fc.assert(
      fc.property(
        long(opArb, 0, 300),
        modelArb,
        fc.option(fc.oneof(fc.integer({ min: -5, max: 300 }), fc.integer({ min: -5, max: 50_000 })), { nil: null }),
        fc.integer({ min: -5, max: 50_000 }),
        (ops, model, cap, fallback) => {
          const { tokens, learned } = outputEstimate(learnAll(ops), model, cap, fallback);
          expect(tokens).toBeGreaterThanOrEqual(0);
          expect(Number.isFinite(tokens)).toBe(true);
          if (cap !== null) expect(tokens).toBeLessThanOrEqual(Math.max(0, cap));
          const seen = ops.filter((op) => op.model === model && (op.sample.outputTokens ?? -1) >= 0).length;
          if (seen < MIN_SAMPLES) expect({ tokens, learned }).toEqual({ tokens: Math.max(0, cap ?? fallback), learned: false });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("prompt never exceeds its bound, is never negative, and is the bound before MIN_SAMPLES or after a violation", () => {
    fc.assert(
      fc.property(long(opArb, 0, 200), modelArb, fc.integer({ min: -5, max: 1e6 }), (ops, model, bound) => {
        const { tokens, learned } = promptEstimate(learnAll(ops), model, bound);
        expect(tokens).toBeGreaterThanOrEqual(0);
        expect(tokens).toBeLessThanOrEqual(Math.max(0, bound));
        const ratios = ops.filter((op) => op.model === model && (op.sample.promptRatio ?? -1) >= 0);
        if (ratios.length < MIN_SAMPLES || ratios.some((op) => op.sample.promptRatio! > 1)) {
          expect({ tokens, learned }).toEqual({ tokens: Math.max(0, bound), learned: false });
        }
      }),
      { numRuns: 300 },
    );
  });

  it("one bound violation among any number of good ratios pins the prompt to its bound", () => {
    fc.assert(
      fc.property(
        long(fc.double({ min: 1e-3, max: 0.5, noNaN: true }), MIN_SAMPLES, 2_000),
        fc.double({ min: 1, max: 100, noNaN: true, minExcluded: true }),
        fc.nat(),
        (ratios, violation, at) => {
          const samples = ratios.map((promptRatio) => ({ promptRatio }));
          samples.splice(at % (samples.length + 1), 0, { promptRatio: violation });
          expect(promptEstimate(learnMany(samples), "m", 5_000)).toEqual({ tokens: 5_000, learned: false });
        },
      ),
      { numRuns: 100 },
    );
  });

  it("a learned output estimate covers the true p95 of the samples with margin", () => {
    fc.assert(
      fc.property(long(fc.integer({ min: 0, max: 100_000 }), MIN_SAMPLES, 500), (outputs) => {
        const estimates = learnMany(outputs.map((outputTokens) => ({ outputTokens })));
        const { tokens } = outputEstimate(estimates, "m", null, 0);
        expect(tokens).toBeGreaterThanOrEqual(Math.ceil(trueQuantile(outputs, 0.95) * MARGIN));
      }),
      { numRuns: 200 },
    );
  });

  it("the number of models stays bounded and the latest one is always kept", () => {
    fc.assert(
      fc.property(
        long(fc.record({ model: fc.integer({ min: 0, max: 99 }), now: fc.integer({ min: 0, max: 1e6 }) }), 0, 400),
        (ops) => {
          const estimates = emptyEstimates();
          const store = new Store();
          for (const op of ops) {
            learn(estimates, `m${op.model}`, { outputTokens: 1 }, op.now);
            expect(estimates.models.size).toBeLessThanOrEqual(MAX_MODELS);
            expect(estimates.models.has(`m${op.model}`)).toBe(true);
            store.persist(estimates);
            expect([...store.rows.keys()].filter((name) => name !== durationEntry()).sort()).toEqual(
              [...estimates.models.keys()].map(estimateEntry).sort(),
            );
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("persisting changes and hydrating preserves every answer", () => {
    fc.assert(
      fc.property(long(long(opArb, 0, 40), 0, 8), (batches) => {
        const live = emptyEstimates();
        const store = new Store();
        for (const batch of batches) {
          for (const op of batch) learn(live, op.model, op.sample, op.now);
          store.persist(live);
          const loaded = store.load();
          expect(loaded.changed.size).toBe(0);
          expect(report(loaded)).toEqual(report(live));
          for (const model of ["m1", "m2", "org:gpt-4o", "*", "", "unseen"]) {
            expect(outputEstimate(loaded, model, 4_000, 1_000)).toEqual(outputEstimate(live, model, 4_000, 1_000));
            expect(outputEstimate(loaded, model, null, 1_000)).toEqual(outputEstimate(live, model, null, 1_000));
            expect(promptEstimate(loaded, model, 9_999)).toEqual(promptEstimate(live, model, 9_999));
          }
          for (const q of [0.5, 0.95, 1]) expect(durationEstimate(loaded, q)).toEqual(durationEstimate(live, q));
        }
      }),
      { numRuns: 150 },
    );
  });
});
