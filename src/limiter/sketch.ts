/**
 * A small quantile sketch of positive numbers, kept as plain data so a Durable Object can store one per model.
 *
 * Why log-spaced buckets: the answers feed reservations, so they must never understate. Every sample is counted
 * in the bucket whose upper edge is at or above it and the sketch answers with that edge, so a quantile is an
 * upper bound of the exact sample quantile and at most one bucket (GAMMA, 10 %) above it, whatever the scale.
 *
 * Why bounded: at most MAX_BUCKETS consecutive buckets are kept. When samples span more, the lowest buckets are
 * merged upwards into the lowest kept one; that only raises low quantiles (still upper bounds) and keeps the
 * high quantiles that reservations use exact to one bucket.
 *
 * Why decay: counts are halved (rounded down) whenever their total passes DECAY_AT, so the sketch follows the
 * key's recent behaviour and a single old sample stops counting after one halving.
 */

/** Ratio between a bucket's upper and lower edge: the worst relative overestimate of a quantile. */
export const GAMMA = 1.1;
/** 60 counts + `lo` stays under ~64 numbers per stored sketch and spans a factor of GAMMA^60 ≈ 300. */
export const MAX_BUCKETS = 60;
/** Total weight that triggers halving: retains 256..512 samples, enough for a stable p99. */
export const DECAY_AT = 512;
/** Bump when GAMMA or the ranges change: stored bucket indices would then stand for other values. */
export const SKETCH_FORMAT = 1;

const LOG_GAMMA = Math.log(GAMMA);

/**
 * What a sketch measures, which fixes its range. Values below the range share the lowest bucket (its edge is
 * still above them); values above it go to one overflow bucket answered as Infinity, since no finite edge
 * bounds them.
 */
export type SketchKind = "tokens" | "ratio" | "ms";

const RANGES: Record<SketchKind, { readonly min: number; readonly max: number }> = {
  tokens: { min: 1, max: 1e7 },
  ratio: { min: 1e-4, max: 1 },
  ms: { min: 1, max: 1e7 },
};

export interface Sketch {
  readonly kind: SketchKind;
  /** Bucket index of counts[0]. Bucket i holds the values in (GAMMA^(i-1), GAMMA^i]. */
  lo: number;
  /** Sample weights of consecutive buckets from `lo`: never starts or ends with 0, at most MAX_BUCKETS long. */
  counts: number[];
}

export const edgeOf = (index: number): number => GAMMA ** index;

/** Smallest index whose edge is >= value, corrected against edgeOf so float error can never place a value above its edge. */
function ceilIndex(value: number): number {
  let index = Math.ceil(Math.log(value) / LOG_GAMMA);
  while (edgeOf(index) < value) index++;
  while (edgeOf(index - 1) >= value) index--;
  return index;
}

const INDEX_RANGES = Object.fromEntries(
  Object.entries(RANGES).map(([kind, range]) => [kind, { first: ceilIndex(range.min), last: ceilIndex(range.max) }]),
) as Record<SketchKind, { readonly first: number; readonly last: number }>;

/** The bucket a value belongs to; `last + 1` is the overflow bucket. */
export function bucketIndex(kind: SketchKind, value: number): number {
  const { first, last } = INDEX_RANGES[kind];
  if (!(value > edgeOf(first))) return first;
  if (value > edgeOf(last)) return last + 1;
  return ceilIndex(value);
}

/** The value a bucket answers with: its upper edge, or Infinity for the overflow bucket. */
export function bucketEdge(kind: SketchKind, index: number): number {
  return index > INDEX_RANGES[kind].last ? Infinity : edgeOf(index);
}

export function emptySketch(kind: SketchKind): Sketch {
  return { kind, lo: 0, counts: [] };
}

/** Retained sample weight: the number of samples while no decay happened, less afterwards. */
export function sampleCount(sketch: Sketch): number {
  let total = 0;
  for (const count of sketch.counts) total += count;
  return total;
}

/** Rank (1-based) of the q-quantile among `total` samples: the smallest sample with at least q of them at or below it. */
export function quantileRank(q: number, total: number): number {
  return Math.max(1, Math.ceil(Math.min(1, Math.max(0, q)) * total));
}

/**
 * Adds one sample (mutates). NaN is ignored (returns false); values at or below 0 join the lowest bucket,
 * whose edge still bounds them.
 */
export function addSample(sketch: Sketch, value: number): boolean {
  if (Number.isNaN(value)) return false;
  const index = bucketIndex(sketch.kind, value);
  const counts = sketch.counts;
  if (counts.length === 0) {
    sketch.lo = index;
    counts.push(1);
    return true;
  }
  const hi = sketch.lo + counts.length - 1;
  if (index > hi) {
    for (let next = hi + 1; next <= index; next++) counts.push(0);
  } else if (index < sketch.lo) {
    // Growing downwards stops at MAX_BUCKETS: the sample then lands in the lowest kept bucket, an upper bound.
    const lo = Math.max(index, hi - MAX_BUCKETS + 1);
    counts.unshift(...new Array<number>(sketch.lo - lo).fill(0));
    sketch.lo = lo;
  }
  counts[Math.max(index, sketch.lo) - sketch.lo]! += 1;
  collapse(sketch);
  if (sampleCount(sketch) > DECAY_AT) {
    for (let at = 0; at < counts.length; at++) counts[at] = Math.floor(counts[at]! / 2);
    trim(sketch);
  }
  return true;
}

/** Merges the lowest buckets upwards until at most MAX_BUCKETS remain. */
function collapse(sketch: Sketch): void {
  const excess = sketch.counts.length - MAX_BUCKETS;
  if (excess <= 0) return;
  const merged = sketch.counts.splice(0, excess).reduce((sum, count) => sum + count, 0);
  sketch.counts[0]! += merged;
  sketch.lo += excess;
  trim(sketch);
}

function trim(sketch: Sketch): void {
  const counts = sketch.counts;
  while (counts.length > 0 && counts[counts.length - 1] === 0) counts.pop();
  let lead = 0;
  while (lead < counts.length && counts[lead] === 0) lead++;
  if (lead > 0) {
    counts.splice(0, lead);
    sketch.lo += lead;
  }
  if (counts.length === 0) sketch.lo = 0;
}

/**
 * An upper bound of the q-quantile of the retained samples (q clamped to [0, 1]): the upper edge of the bucket
 * holding the sample of rank quantileRank(q, n). null when empty; Infinity when that sample is above the range.
 */
export function quantile(sketch: Sketch, q: number): number | null {
  const total = sampleCount(sketch);
  if (total === 0) return null;
  const rank = quantileRank(q, total);
  let seen = 0;
  for (let at = 0; at < sketch.counts.length; at++) {
    seen += sketch.counts[at]!;
    if (seen >= rank) return bucketEdge(sketch.kind, sketch.lo + at);
  }
  return bucketEdge(sketch.kind, sketch.lo + sketch.counts.length - 1);
}

/**
 * Mean and variance of the retained samples, each taken at its bucket's upper edge: the mean is an upper bound
 * (within one bucket width); null when empty or when a sample is above the range.
 */
export function moments(sketch: Sketch): { mean: number; variance: number } | null {
  const total = sampleCount(sketch);
  if (total === 0) return null;
  let sum = 0;
  let squares = 0;
  for (let at = 0; at < sketch.counts.length; at++) {
    const count = sketch.counts[at]!;
    if (count === 0) continue;
    const value = bucketEdge(sketch.kind, sketch.lo + at);
    if (!Number.isFinite(value)) return null;
    sum += count * value;
    squares += count * value * value;
  }
  const mean = sum / total;
  return { mean, variance: Math.max(0, squares / total - mean * mean) };
}

/**
 * Checks a stored value is a well-formed sketch of `kind`; returns a fresh copy or null. Storage outlives code,
 * and a malformed sketch could answer below the truth, so anything odd is rejected (forgetting is safe: the
 * callers fall back to their proven bounds).
 */
export function parseSketch(value: unknown, kind: SketchKind): Sketch | null {
  if (typeof value !== "object" || value === null) return null;
  const { kind: storedKind, lo, counts } = value as Partial<Record<keyof Sketch, unknown>>;
  if (storedKind !== kind || !Number.isSafeInteger(lo) || !Array.isArray(counts)) return null;
  if (counts.length > MAX_BUCKETS) return null;
  if (!counts.every((count) => Number.isSafeInteger(count) && (count as number) >= 0)) return null;
  const { first, last } = INDEX_RANGES[kind];
  const sketch: Sketch = { kind, lo: lo as number, counts: [...(counts as number[])] };
  if (counts.length > 0 && (sketch.lo < first || sketch.lo + counts.length - 1 > last + 1)) return null;
  trim(sketch);
  return sketch;
}
