import { addSample, emptySketch, moments, parseSketch, quantile, sampleCount, SKETCH_FORMAT, type Sketch } from "./sketch";

/**
 * What one owner has learned about its calls, so reservations can be sized from real usage instead of the
 * client's max_tokens and the prompt's byte bound. Plain data like LimiterState: each model is one storage
 * entry and `changed` names the entries to write, so learning from a call writes one small row.
 *
 * An estimate is never above the proven bound it replaces (the output cap, the prompt's byte bound): learning
 * can only shrink a reservation. When it does shrink one, real usage may exceed it; settlement charges the
 * difference, and `learned: true` tells the caller that is possible.
 */

/** Models remembered per owner; the least recently learned one is forgotten first, which keeps storage bounded. */
export const MAX_MODELS = 32;
/** Below this many retained samples a model's estimates are not used: q(0.95) of fewer samples is just noise. */
export const MIN_SAMPLES = 8;
/** Output is reserved at its p95: one call in twenty may overrun its reservation and be settled upwards. */
export const OUTPUT_QUANTILE = 0.95;
/** Prompts are cheaper to get right (the byte bound is close), so a stricter quantile costs little. */
export const PROMPT_QUANTILE = 0.99;
/** Headroom over the learned quantile for drift between samples. */
export const MARGIN = 1.1;

export interface ModelEstimates {
  /** Latest `now` a sample was learned at; decides eviction. */
  lastUsed: number;
  /** Completion tokens per call. */
  output: Sketch;
  /** Real prompt_tokens divided by the byte upper bound reserved for the prompt, in (0, 1]. */
  prompt: Sketch;
  /**
   * Latest time a ratio above 1 was seen: the byte bound was violated, so the proof behind it is wrong for this
   * model. Sticky (until the model is evicted) so prompts go back to the full bound and stay there.
   */
  promptBoundBrokenAt: number | null;
}

export interface Estimates {
  models: Map<string, ModelEstimates>;
  /** Admission-to-settlement time over all models, for retry hints. */
  duration: Sketch;
  changed: Set<string>;
}

export interface Sample {
  outputTokens?: number;
  promptRatio?: number;
  durationMs?: number;
}

export interface Estimate {
  readonly tokens: number;
  /** True when `tokens` is below the proven bound, so real usage may exceed it. */
  readonly learned: boolean;
}

// Storage entry names. "e:" does not clash with state.ts ("meta", "w:", "b:", "r:"); "e*" cannot be a model's.
const MODEL_PREFIX = "e:";
const DURATION = "e*";
export const estimateEntry = (model: string): string => `${MODEL_PREFIX}${model}`;
export const durationEntry = (): string => DURATION;
export const isEstimateEntry = (name: string): boolean => name === DURATION || name.startsWith(MODEL_PREFIX);

export function emptyEstimates(): Estimates {
  return { models: new Map(), duration: emptySketch("ms"), changed: new Set() };
}

function newModel(now: number): ModelEstimates {
  return { lastUsed: now, output: emptySketch("tokens"), prompt: emptySketch("ratio"), promptBoundBrokenAt: null };
}

/** Forgets least recently used models (never `keep`) until MAX_MODELS remain; their entries are deleted. */
function evict(estimates: Estimates, keep: string | null): void {
  while (estimates.models.size > MAX_MODELS) {
    let oldest: string | null = null;
    let oldestAt = Infinity;
    for (const [model, entry] of estimates.models) {
      if (model !== keep && entry.lastUsed < oldestAt) {
        oldest = model;
        oldestAt = entry.lastUsed;
      }
    }
    if (oldest === null) return;
    estimates.models.delete(oldest);
    estimates.changed.add(estimateEntry(oldest));
  }
}

/**
 * Learns from one finished call (mutates). Values that cannot be measurements (NaN, negative) are ignored.
 * A prompt ratio above 1 (Infinity included: a zero bound with real tokens) is recorded as 1 and marks the
 * model's bound as broken. A duration alone does not create or refresh a model.
 */
export function learn(estimates: Estimates, model: string, sample: Sample, now: number): void {
  const { outputTokens, promptRatio, durationMs } = sample;
  if (durationMs !== undefined && durationMs >= 0 && addSample(estimates.duration, durationMs)) {
    estimates.changed.add(DURATION);
  }
  const hasOutput = outputTokens !== undefined && outputTokens >= 0; // NaN fails the comparison
  const hasPrompt = promptRatio !== undefined && promptRatio >= 0;
  if (!hasOutput && !hasPrompt) return;
  let entry = estimates.models.get(model);
  if (!entry) {
    entry = newModel(now);
    estimates.models.set(model, entry);
    evict(estimates, model);
  }
  entry.lastUsed = Math.max(entry.lastUsed, now);
  if (hasOutput) addSample(entry.output, outputTokens);
  if (hasPrompt) {
    if (promptRatio > 1) entry.promptBoundBrokenAt = Math.max(entry.promptBoundBrokenAt ?? now, now);
    addSample(entry.prompt, Math.min(1, promptRatio));
  }
  estimates.changed.add(estimateEntry(model));
}

/** The learned q-quantile once there are MIN_SAMPLES, else null; Infinity (above the sketch's range) counts as unknown. */
function learnedQuantile(sketch: Sketch | undefined, q: number): number | null {
  if (!sketch || sampleCount(sketch) < MIN_SAMPLES) return null;
  const value = quantile(sketch, q);
  return value !== null && Number.isFinite(value) ? value : null;
}

/**
 * Output tokens to reserve: ceil(p95 * MARGIN) once learned, never above `cap` (the client's max_tokens, which
 * the provider enforces). Without enough samples: `cap`, or `fallback` when the client set no cap. With no cap
 * the learned value is used as is, even above `fallback`: it is what this key's calls really produce.
 */
export function outputEstimate(estimates: Estimates, model: string, cap: number | null, fallback: number): Estimate {
  const bound = Math.max(0, cap ?? fallback);
  const q = learnedQuantile(estimates.models.get(model)?.output, OUTPUT_QUANTILE);
  if (q === null) return { tokens: bound, learned: false };
  const tokens = Math.ceil(q * MARGIN);
  if (cap === null) return { tokens, learned: true };
  return tokens < bound ? { tokens, learned: true } : { tokens: bound, learned: false };
}

/**
 * The output a call of `model` uses on average and how much it varies (variance), once learned (MIN_SAMPLES):
 * what pooled adaptive reservations size from. null before, or when a sample is above the sketch's range.
 */
export function outputMoments(estimates: Estimates, model: string): { mean: number; variance: number } | null {
  const sketch = estimates.models.get(model)?.output;
  if (!sketch || sampleCount(sketch) < MIN_SAMPLES) return null;
  return moments(sketch);
}

/**
 * Prompt tokens to reserve: ceil(upperBound * p99 ratio * MARGIN) once learned, never above `upperBound`.
 * The full bound while samples are few or after the bound was ever violated for this model.
 */
export function promptEstimate(estimates: Estimates, model: string, upperBound: number): Estimate {
  const bound = Math.max(0, upperBound);
  const entry = estimates.models.get(model);
  if (!entry || entry.promptBoundBrokenAt !== null) return { tokens: bound, learned: false };
  const ratio = learnedQuantile(entry.prompt, PROMPT_QUANTILE);
  if (ratio === null) return { tokens: bound, learned: false };
  const tokens = Math.ceil(bound * ratio * MARGIN);
  return tokens < bound ? { tokens, learned: true } : { tokens: bound, learned: false };
}

/** An upper bound of the q-quantile of call durations (ms), or null before MIN_SAMPLES. */
export function durationEstimate(estimates: Estimates, q: number): number | null {
  const value = learnedQuantile(estimates.duration, q);
  return value === null ? null : Math.ceil(value);
}

export interface ModelEstimateReport {
  model: string;
  lastUsed: number;
  /** Retained weights (decay halves them), not lifetime counts. */
  outputSamples: number;
  outputP50: number | null;
  outputP95: number | null;
  /** Mean output (an upper bound within one bucket): what an adaptive reservation holds once learned. */
  outputMean: number | null;
  promptSamples: number;
  promptRatioP99: number | null;
  promptBoundBrokenAt: number | null;
}

export interface EstimatesReport {
  /** Most recently used first. */
  models: ModelEstimateReport[];
  duration: { samples: number; p50Ms: number | null; p95Ms: number | null };
}

/** Rounded up so a displayed figure is still an upper bound; null for unknown or unbounded. */
function shown(value: number | null, decimals: number): number | null {
  const scale = 10 ** decimals;
  return value === null || !Number.isFinite(value) ? null : Math.ceil(value * scale) / scale;
}

/** JSON-friendly view for /key/info. Quantiles are the sketch's (upper bounds), before MARGIN. */
export function report(estimates: Estimates): EstimatesReport {
  const models = [...estimates.models]
    .map(([model, entry]): ModelEstimateReport => ({
      model,
      lastUsed: entry.lastUsed,
      outputSamples: sampleCount(entry.output),
      outputP50: shown(quantile(entry.output, 0.5), 0),
      outputP95: shown(quantile(entry.output, OUTPUT_QUANTILE), 0),
      outputMean: shown(moments(entry.output)?.mean ?? null, 0),
      promptSamples: sampleCount(entry.prompt),
      promptRatioP99: shown(quantile(entry.prompt, PROMPT_QUANTILE), 4),
      promptBoundBrokenAt: entry.promptBoundBrokenAt,
    }))
    .sort((a, b) => b.lastUsed - a.lastUsed || (a.model < b.model ? -1 : a.model > b.model ? 1 : 0));
  const duration = estimates.duration;
  return {
    models,
    duration: {
      samples: sampleCount(duration),
      p50Ms: shown(quantile(duration, 0.5), 0),
      p95Ms: shown(quantile(duration, 0.95), 0),
    },
  };
}

interface StoredModel extends ModelEstimates {
  v: number;
}
interface StoredDuration {
  v: number;
  sketch: Sketch;
}

/** The value to store for an estimate entry, or undefined when it must be deleted. */
export function estimateEntryValue(estimates: Estimates, name: string): unknown {
  if (name === DURATION) return { v: SKETCH_FORMAT, sketch: estimates.duration } satisfies StoredDuration;
  if (!name.startsWith(MODEL_PREFIX)) return undefined;
  const entry = estimates.models.get(name.slice(MODEL_PREFIX.length));
  return entry ? ({ v: SKETCH_FORMAT, ...entry } satisfies StoredModel) : undefined;
}

/** Every changed entry with its new value (undefined = delete); clears the change set. */
export function takeEstimateChanges(estimates: Estimates): Array<[name: string, value: unknown]> {
  const out: Array<[string, unknown]> = [];
  for (const name of estimates.changed) out.push([name, estimateEntryValue(estimates, name)]);
  estimates.changed.clear();
  return out;
}

function parseModel(value: unknown): ModelEstimates | null {
  if (typeof value !== "object" || value === null) return null;
  const stored = value as Partial<Record<keyof StoredModel, unknown>>;
  if (stored.v !== SKETCH_FORMAT || typeof stored.lastUsed !== "number" || !Number.isFinite(stored.lastUsed)) return null;
  const broken = stored.promptBoundBrokenAt;
  if (broken !== null && typeof broken !== "number") return null;
  const output = parseSketch(stored.output, "tokens");
  const prompt = parseSketch(stored.prompt, "ratio");
  if (!output || !prompt) return null;
  return { lastUsed: stored.lastUsed, output, prompt, promptBoundBrokenAt: broken };
}

/**
 * Rebuilds estimates from stored entries (any order; entries that are not estimates are ignored, so the whole
 * storage listing can be passed). Entries of another format or malformed ones are forgotten, and models beyond
 * MAX_MODELS (least recent first) too; all of those are marked changed so the next write deletes them.
 */
export function hydrateEstimates(entries: Iterable<readonly [string, unknown]>): Estimates {
  const estimates = emptyEstimates();
  for (const [name, value] of entries) {
    if (name === DURATION) {
      const stored = value as Partial<StoredDuration> | null;
      const sketch = stored?.v === SKETCH_FORMAT ? parseSketch(stored.sketch, "ms") : null;
      if (sketch) estimates.duration = sketch;
      else estimates.changed.add(DURATION);
    } else if (name.startsWith(MODEL_PREFIX)) {
      const entry = parseModel(value);
      if (entry) estimates.models.set(name.slice(MODEL_PREFIX.length), entry);
      else estimates.changed.add(name);
    }
  }
  evict(estimates, null);
  return estimates;
}
