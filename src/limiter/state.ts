import type { Budget } from "./budget";
import { emptyEstimates, hydrateEstimates, isEstimateEntry, takeEstimateChanges, type Estimates } from "./estimates";
import type { Window } from "./window";

/** One admitted request whose real usage is not known yet. Amounts: tokens, nano-dollars, ms. */
export interface Reservation {
  readonly requestId: string;
  readonly model: string;
  readonly admittedAt: number;
  /** Window bucket the reservation was charged to, in every window scope it touched. */
  readonly bucket: number;
  /** Tokens reserved in every window scope: prompt and output together, grown by top-ups. */
  readonly tokens: number;
  /** Variance of the call's output around its adaptive (mean) reservation; pooled into admission's margin. */
  readonly variance?: number;
  /** Of `tokens`, what was held for the prompt (the rest is output): a stream outgrowing it is topped up. */
  readonly promptTokens?: number;
  /** Tokens charged to the INPUT window, when the owner has one: the prompt part, capped at that limit. */
  readonly inputTokens?: number;
  /** The prompt's upper bound, and whether it is an exact count: an inexact one is calibrated at settlement. */
  readonly promptBound?: number;
  readonly promptExact?: boolean;
  readonly cost: number;
  /** The end user the call was made for, when it named one. */
  readonly endUser?: string;
  readonly expiresAt: number;
  readonly windows: readonly string[];
  readonly budgets: readonly string[];
}

/**
 * A slice of an owner's capacity handed to one front door, which admits calls against it locally until
 * `expiresAt` (see lease.ts). Held in the windows and budgets exactly like an in-flight call: `tokens` and
 * `requests` charged to `bucket`, `cost` reserved, `slots` counted against max_parallel_requests. null: the owner
 * has no limit of that kind, so nothing is held for it.
 */
export interface Lease {
  readonly leaseId: string;
  readonly model: string;
  readonly grantedAt: number;
  readonly bucket: number;
  readonly expiresAt: number;
  readonly tokens: number | null;
  readonly requests: number | null;
  readonly slots: number | null;
  readonly cost: number | null;
  readonly windows: readonly string[];
  readonly budgets: readonly string[];
}

/**
 * Everything one limiter owns. Plain data so it can be unit-tested and persisted; `changed` lists the storage
 * entries touched since the owner last persisted, so a Durable Object writes a few small rows per request
 * instead of the whole state.
 */
export interface LimiterState {
  /** Latest instant seen: time never runs backwards inside a limiter even if the host clock does. */
  clock: number;
  /** Smoothed admission-to-settlement time, used to hint when a parallel slot frees. */
  latencyMs: number;
  windows: Map<string, Window>;
  budgets: Map<string, Budget>;
  reservations: Map<string, Reservation>;
  /** Capacity lent to front doors, by lease id. */
  leases: Map<string, Lease>;
  /** What this owner learned of its calls' real usage, for adaptive reservations; persisted on its own. */
  estimates: Estimates;
  changed: Set<string>;
}

/** Parallel slots in use: calls in flight here plus slots lent to front doors. */
export function slotsInUse(state: LimiterState): number {
  let slots = state.reservations.size;
  for (const lease of state.leases.values()) slots += lease.slots ?? 0;
  return slots;
}

export const WHOLE = "*";
/** Window scopes that count only the input or only the output part of each call (inputTpm / outputTpm). */
export const INPUT = "input";
export const OUTPUT = "output";
const MODEL_SCOPE = "model:";
export const modelScope = (model: string): string => `${MODEL_SCOPE}${model}`;
export const modelOfScope = (scope: string): string => scope.slice(MODEL_SCOPE.length);

export function emptyState(): LimiterState {
  return {
    clock: 0,
    latencyMs: 0,
    windows: new Map(),
    budgets: new Map(),
    reservations: new Map(),
    leases: new Map(),
    estimates: emptyEstimates(),
    changed: new Set(),
  };
}

// Storage entry names. Scopes may contain ':' (model names do), so the bucket stamp is the last segment.
const META = "meta";
export const windowEntry = (scope: string, time: number): string => `w:${scope}:${time}`;
export const budgetEntry = (scope: string): string => `b:${scope}`;
export const reservationEntry = (id: string): string => `r:${id}`;
export const leaseEntry = (id: string): string => `l:${id}`;
export const metaEntry = (): string => META;

type StoredBucket = readonly [tokens: number, requests: number];
interface StoredMeta {
  clock: number;
  latencyMs: number;
}

/** The value to store for a changed entry, or undefined when the entry must be deleted. */
export function entryValue(state: LimiterState, name: string): unknown {
  if (name === META) return { clock: state.clock, latencyMs: state.latencyMs } satisfies StoredMeta;
  const kind = name.slice(0, 2);
  const rest = name.slice(2);
  if (kind === "r:") return state.reservations.get(rest);
  if (kind === "b:") return state.budgets.get(rest);
  if (kind === "l:") return state.leases.get(rest);
  if (kind === "w:") {
    const cut = rest.lastIndexOf(":");
    const time = Number(rest.slice(cut + 1));
    const bucket = state.windows.get(rest.slice(0, cut))?.buckets.find((candidate) => candidate.time === time);
    return bucket ? ([bucket.tokens, bucket.requests] satisfies StoredBucket) : undefined;
  }
  return undefined;
}

/** Hands the owner every changed entry with its new value (undefined = delete) and clears the change set. */
export function takeChanges(state: LimiterState): Array<[name: string, value: unknown]> {
  const out: Array<[string, unknown]> = [];
  for (const name of state.changed) out.push([name, entryValue(state, name)]);
  state.changed.clear();
  out.push(...takeEstimateChanges(state.estimates));
  return out;
}

/** Rebuilds a state from stored entries (any order). Unknown entries are ignored so the format can grow. */
export function hydrate(entries: Iterable<readonly [string, unknown]>): LimiterState {
  const state = emptyState();
  const estimates: Array<readonly [string, unknown]> = [];
  for (const [name, value] of entries) {
    if (isEstimateEntry(name)) {
      estimates.push([name, value]);
      continue;
    }
    if (name === META) {
      const meta = value as StoredMeta;
      state.clock = meta.clock;
      state.latencyMs = meta.latencyMs;
      continue;
    }
    const kind = name.slice(0, 2);
    const rest = name.slice(2);
    if (kind === "r:") {
      // Reservations stored before the field was named requestId keep their id.
      const stored = value as Reservation & { id?: string };
      state.reservations.set(rest, stored.requestId === undefined ? { ...stored, requestId: stored.id ?? rest } : stored);
    }
    else if (kind === "b:") state.budgets.set(rest, value as Budget);
    else if (kind === "l:") state.leases.set(rest, value as Lease);
    else if (kind === "w:") {
      const cut = rest.lastIndexOf(":");
      const scope = rest.slice(0, cut);
      const [tokens, requests] = value as StoredBucket;
      let window = state.windows.get(scope);
      if (!window) state.windows.set(scope, (window = { buckets: [] }));
      window.buckets.push({ time: Number(rest.slice(cut + 1)), tokens, requests });
    }
  }
  for (const window of state.windows.values()) window.buckets.sort((a, b) => a.time - b.time);
  state.estimates = hydrateEstimates(estimates);
  return state;
}
