import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  addSample,
  bucketIndex,
  DECAY_AT,
  emptySketch,
  GAMMA,
  MAX_BUCKETS,
  parseSketch,
  quantile,
  quantileRank,
  sampleCount,
  type Sketch,
  type SketchKind,
} from "../../src/limiter/sketch";

/** The exact q-quantile of `values`, with the same rank convention the sketch documents. */
function trueQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[quantileRank(q, sorted.length) - 1]!;
}

function sketchOf(kind: SketchKind, values: Iterable<number>): Sketch {
  const sketch = emptySketch(kind);
  for (const value of values) addSample(sketch, value);
  return sketch;
}

// Float slack for comparing GAMMA^i with x * GAMMA; far below a bucket's width.
const SLACK = 1 + 1e-9;
const QS = [0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1];

/**
 * Values of one kind spanning at most a factor of 200, so they fit in MAX_BUCKETS buckets and no merging
 * happens (1.1^58 > 200).
 */
const narrowValues = (kind: SketchKind, maxLength: number): fc.Arbitrary<number[]> => {
  const [low, high] = kind === "ratio" ? [1e-4, 0.005] : [1, 10_000]; // base * 200 stays in range
  return fc
    .double({ min: low, max: high, noNaN: true })
    .chain((base) => fc.array(fc.double({ min: base, max: base * 200, noNaN: true }), { minLength: 1, maxLength, size: "max" }));
};

const kindArb = fc.constantFrom<SketchKind>("tokens", "ratio", "ms");

describe("sketch examples", () => {
  it("an empty sketch has no quantile and no samples", () => {
    const sketch = emptySketch("tokens");
    expect(quantile(sketch, 0.5)).toBeNull();
    expect(sampleCount(sketch)).toBe(0);
  });

  it("a single sample answers every quantile with the edge just above it", () => {
    const sketch = sketchOf("tokens", [100]);
    for (const q of QS) {
      const answer = quantile(sketch, q)!;
      expect(answer).toBeGreaterThanOrEqual(100);
      expect(answer).toBeLessThan(100 * GAMMA);
    }
  });

  it("a ratio of exactly 1 answers 1 and a ratio above 1 answers Infinity", () => {
    expect(quantile(sketchOf("ratio", [1]), 1)).toBe(1);
    expect(quantile(sketchOf("ratio", [0.3, 1.0001]), 1)).toBe(Infinity);
    expect(quantile(sketchOf("ratio", [0.3, 1.0001]), 0.5)).toBeLessThan(0.3 * GAMMA);
  });

  it("zero and values below the range share the lowest bucket, still bounded above", () => {
    const sketch = sketchOf("tokens", [0, 0.2, -5]);
    expect(quantile(sketch, 1)).toBe(1);
    expect(bucketIndex("tokens", 0)).toBe(bucketIndex("tokens", 1));
  });

  it("token counts above the range answer Infinity rather than a false bound", () => {
    expect(quantile(sketchOf("tokens", [2e7]), 0.5)).toBe(Infinity);
  });

  it("NaN is ignored", () => {
    const sketch = emptySketch("ms");
    expect(addSample(sketch, Number.NaN)).toBe(false);
    expect(sampleCount(sketch)).toBe(0);
  });

  it("a wide spread merges the lowest buckets upwards and keeps the high quantiles tight", () => {
    const values = Array.from({ length: 200 }, (_, index) => 1.07 ** index); // 1 .. ~7e5, ~140 buckets wide
    const sketch = sketchOf("tokens", values);
    expect(sketch.counts.length).toBeLessThanOrEqual(MAX_BUCKETS);
    expect(sampleCount(sketch)).toBe(200);
    for (const q of QS) expect(quantile(sketch, q)!).toBeGreaterThanOrEqual(trueQuantile(values, q));
    for (const q of [0.9, 0.95, 0.99, 1]) expect(quantile(sketch, q)!).toBeLessThanOrEqual(trueQuantile(values, q) * GAMMA * SLACK);
  });

  it("decay halves the counts once their total passes DECAY_AT", () => {
    const sketch = sketchOf("tokens", Array.from({ length: DECAY_AT }, () => 50));
    expect(sampleCount(sketch)).toBe(DECAY_AT);
    addSample(sketch, 50);
    expect(sampleCount(sketch)).toBe(Math.floor((DECAY_AT + 1) / 2));
  });
});

describe("sketch properties", () => {
  it("without merging or decay a quantile is an upper bound of the exact one and within one bucket of it", () => {
    fc.assert(
      fc.property(
        kindArb.chain((kind) => fc.tuple(fc.constant(kind), narrowValues(kind, DECAY_AT))),
        fc.double({ min: 0, max: 1, noNaN: true }),
        ([kind, values], extraQ) => {
          const sketch = sketchOf(kind, values);
          expect(sampleCount(sketch)).toBe(values.length);
          for (const q of [...QS, extraQ]) {
            const exact = trueQuantile(values, q);
            const answer = quantile(sketch, q)!;
            expect(answer).toBeGreaterThanOrEqual(exact);
            expect(answer).toBeLessThanOrEqual(exact * GAMMA * SLACK);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("with merging a quantile is still an upper bound of the exact one", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 1e-3, max: 1e7, noNaN: true }), { minLength: 1, maxLength: DECAY_AT, size: "max" }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (values, q) => {
          const sketch = sketchOf("tokens", values);
          expect(quantile(sketch, q)!).toBeGreaterThanOrEqual(trueQuantile(values, q));
          expect(quantile(sketch, 1)!).toBeLessThanOrEqual(Math.max(1, trueQuantile(values, 1)) * GAMMA * SLACK);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("size stays bounded under 100k random adds", () => {
    fc.assert(
      fc.property(kindArb, fc.integer(), (kind, seed) => {
        const sketch = emptySketch(kind);
        let state = seed >>> 0 || 1;
        for (let step = 0; step < 100_000; step++) {
          state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0; // LCG: cheap, deterministic per seed
          const value = 10 ** ((state / 2 ** 32) * 14 - 6); // 1e-6 .. 1e8: under, inside and over every range
          addSample(sketch, value);
          if (step % 997 === 0) {
            expect(sketch.counts.length).toBeLessThanOrEqual(MAX_BUCKETS);
            expect(sampleCount(sketch)).toBeLessThanOrEqual(DECAY_AT);
          }
        }
        expect(sketch.counts.length).toBeLessThanOrEqual(MAX_BUCKETS);
        expect(sampleCount(sketch)).toBeLessThanOrEqual(DECAY_AT);
        expect(JSON.stringify(sketch).length).toBeLessThan(400);
      }),
      { numRuns: 6 },
    );
  });

  it("a JSON round trip preserves every answer and passes validation", () => {
    fc.assert(
      fc.property(
        kindArb,
        fc.array(fc.double({ min: -1, max: 2e7, noNaN: true }), { maxLength: 2_000, size: "max" }),
        (kind, values) => {
          const sketch = sketchOf(kind, values);
          const stored: unknown = JSON.parse(JSON.stringify(sketch));
          const parsed = parseSketch(stored, kind);
          expect(parsed).toEqual(sketch);
          for (const q of QS) {
            expect(quantile(stored as Sketch, q)).toBe(quantile(sketch, q));
            expect(quantile(parsed!, q)).toBe(quantile(sketch, q));
          }
          expect(sampleCount(parsed!)).toBe(sampleCount(sketch));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("malformed or foreign stored sketches are rejected", () => {
    const good = sketchOf("tokens", [5, 50]);
    expect(parseSketch(good, "ratio")).toBeNull();
    expect(parseSketch({ ...good, counts: [1, -1] }, "tokens")).toBeNull();
    expect(parseSketch({ ...good, counts: [1.5] }, "tokens")).toBeNull();
    expect(parseSketch({ ...good, counts: new Array(MAX_BUCKETS + 1).fill(1) }, "tokens")).toBeNull();
    expect(parseSketch({ ...good, lo: 1e6 }, "tokens")).toBeNull();
    expect(parseSketch({ ...good, lo: "3" }, "tokens")).toBeNull();
    expect(parseSketch(null, "tokens")).toBeNull();
  });

  // With o old samples retained, the first halving comes within DECAY_AT + 1 - o new samples and then one every
  // ~DECAY_AT / 2, each halving the old weight. 3 * DECAY_AT new samples bring at least 5 halvings when o is
  // large (old weight <= o / 32 <= 16), and p95 ignores the old weight once it is under 5 % of the >= ~DECAY_AT / 2
  // retained. (1,000 samples are not enough: fast-check finds o = 160 failing by one.)
  const SHIFT_SAMPLES = 3 * DECAY_AT;

  it(`decay makes a downward shift visible at p95 within ${SHIFT_SAMPLES} samples`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5_000 }),
        fc.integer({ min: 1, max: 5_000 }),
        fc.double({ min: 2, max: 150, noNaN: true }),
        fc.integer(),
        (oldCount, low, factor, seed) => {
          const high = low * factor; // within 200x: the new samples are not merged into the old buckets
          const sketch = sketchOf("tokens", Array.from({ length: oldCount }, (_, index) => high * (1 + (index % 7) / 100)));
          let state = seed >>> 0;
          for (let step = 0; step < SHIFT_SAMPLES; step++) {
            state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
            addSample(sketch, low * (1 + (state / 2 ** 32) * 0.2));
          }
          expect(quantile(sketch, 0.95)!).toBeLessThanOrEqual(low * 1.2 * GAMMA * SLACK);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("an upward shift shows at p95 as soon as it is 5 % of the retained weight", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5_000 }), (oldCount) => {
        const sketch = sketchOf("tokens", Array.from({ length: oldCount }, () => 100));
        for (let step = 0; step < Math.ceil(DECAY_AT / 20) + 1; step++) addSample(sketch, 5_000);
        expect(quantile(sketch, 0.95)!).toBeGreaterThanOrEqual(5_000);
      }),
      { numRuns: 100 },
    );
  });
});
