/**
 * Sliding window over fixed-width time buckets.
 *
 * Why buckets and not a log: state must stay bounded whatever the traffic. A request admitted at time `a` is
 * recorded in the bucket stamped `ceil(a / width) * width`, i.e. never earlier than it really happened, so it is
 * counted for at most `width` ms longer than the exact window would count it and never for less. The check is
 * therefore conservative: the exact-window invariant holds, and the only cost is that capacity frees up to one
 * bucket width late (width = window / BUCKETS_PER_WINDOW, 100 ms for a 60 s window).
 */
export const BUCKETS_PER_WINDOW = 600;

export interface Bucket {
  /** Bucket stamp (ms). Entries in it stop counting at `time + windowMs`. */
  readonly time: number;
  tokens: number;
  requests: number;
}

/** Buckets sorted by ascending time; at most BUCKETS_PER_WINDOW + 1 of them survive pruning. */
export interface Window {
  buckets: Bucket[];
}

export function bucketWidth(windowMs: number): number {
  // Rounded up: a floored width lets a window span more than BUCKETS_PER_WINDOW buckets (1000 for a 1 s window).
  return Math.max(1, Math.ceil(windowMs / BUCKETS_PER_WINDOW));
}

export function bucketTime(now: number, windowMs: number): number {
  const width = bucketWidth(windowMs);
  return Math.ceil(now / width) * width;
}

/** Drops buckets that no longer count at `now`; returns the stamps dropped so storage can follow. */
export function prune(window: Window, now: number, windowMs: number): number[] {
  let keep = 0;
  while (keep < window.buckets.length && window.buckets[keep]!.time + windowMs <= now) keep++;
  if (keep === 0) return [];
  return window.buckets.splice(0, keep).map((bucket) => bucket.time);
}

export interface WindowUsage {
  tokens: number;
  requests: number;
}

/** Usage counted at `now`; call prune first. */
export function usage(window: Window): WindowUsage {
  let tokens = 0;
  let requests = 0;
  for (const bucket of window.buckets) {
    tokens += bucket.tokens;
    requests += bucket.requests;
  }
  return { tokens, requests };
}

/** Adds to the bucket stamped `time`, creating it in order. Returns that bucket. */
export function charge(window: Window, time: number, tokens: number, requests: number): Bucket {
  const buckets = window.buckets;
  let index = buckets.length;
  while (index > 0 && buckets[index - 1]!.time > time) index--;
  const existing = index > 0 ? buckets[index - 1] : undefined;
  if (existing && existing.time === time) {
    existing.tokens += tokens;
    existing.requests += requests;
    return existing;
  }
  const bucket: Bucket = { time, tokens, requests };
  buckets.splice(index, 0, bucket);
  return bucket;
}

/**
 * Corrects a bucket after settlement. Returns the bucket, or undefined when it already left the window
 * (then the correction is moot for rate limiting; spend is accounted elsewhere).
 */
export function adjust(window: Window, time: number, tokens: number, requests: number): Bucket | undefined {
  const bucket = window.buckets.find((candidate) => candidate.time === time);
  if (!bucket) return undefined;
  bucket.tokens = Math.max(0, bucket.tokens + tokens);
  bucket.requests = Math.max(0, bucket.requests + requests);
  return bucket;
}

type Measure = "tokens" | "requests";

/**
 * Milliseconds from `now` until `need` more units fit under `limit`, assuming nothing else is admitted and
 * in-flight reservations keep their estimates. 0 when it fits now; null when it can never fit.
 */
export function waitFor(
  window: Window,
  measure: Measure,
  need: number,
  limit: number,
  now: number,
  windowMs: number,
): number | null {
  if (need > limit) return null;
  let used = 0;
  for (const bucket of window.buckets) used += bucket[measure];
  let excess = used + need - limit;
  if (excess <= 0) return 0;
  for (const bucket of window.buckets) {
    excess -= bucket[measure];
    if (excess <= 0) return Math.max(0, bucket.time + windowMs - now);
  }
  return null;
}

/** Milliseconds until every unit of `measure` currently counted has left the window (OpenAI's "reset"). */
export function drainsIn(window: Window, measure: Measure, now: number, windowMs: number): number {
  for (let index = window.buckets.length - 1; index >= 0; index--) {
    const bucket = window.buckets[index]!;
    if (bucket[measure] > 0) return Math.max(0, bucket.time + windowMs - now);
  }
  return 0;
}
