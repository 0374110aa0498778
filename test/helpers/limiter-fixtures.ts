import {
  admit,
  emptyState,
  hydrate,
  takeChanges,
  UNLIMITED_BUDGET,
  type Admission,
  type AdmissionRequest,
  type BudgetLimit,
  type LimiterState,
  type Limits,
  type ModelLimits,
  type Period,
  type Price,
  type Rejection,
  type Reservation,
} from "../../src/limiter";

export const SECOND = 1_000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** Limits with nothing enforced; override only what a test is about. */
export function limits(overrides: Partial<Limits> = {}): Limits {
  return {
    windowMs: MINUTE,
    tpm: null,
    rpm: null,
    maxParallel: null,
    budget: UNLIMITED_BUDGET,
    models: {},
    defaultOutputTokens: 256,
    reservationTtlMs: 10 * MINUTE,
    // The core's guarantees are stated for strict reservations; adaptive ones are tested on their own.
    policy: "strict",
    ...overrides,
  };
}

export function budget(overrides: Partial<BudgetLimit> = {}): BudgetLimit {
  return { max: null, soft: null, period: null, ...overrides };
}

export function modelLimits(overrides: Partial<ModelLimits> = {}): ModelLimits {
  return { tpm: null, rpm: null, budget: null, ...overrides };
}

export const period = (amount: number, unit: Period["unit"]): Period => ({ amount, unit });

/** Nano-dollars per token. */
export const price = (input: number, output: number): Price => ({ input, output });

let counter = 0;
/** A request with a fresh id; 10 prompt tokens and a 10-token output cap unless overridden. */
export function request(overrides: Partial<AdmissionRequest> = {}): AdmissionRequest {
  counter += 1;
  return { requestId: `req-${counter}`, model: "gpt-4o", promptTokens: 10, maxOutputTokens: 10, price: null, ...overrides };
}

/** Admits and fails the test if the request is rejected. */
export function admitted(state: LimiterState, lim: Limits, req: AdmissionRequest, clock: number): Reservation {
  const result = admit(state, lim, req, clock);
  if (!result.ok) throw new Error(`expected admission, got ${JSON.stringify(result.rejection)}`);
  return result.reservation;
}

/** Admits and fails the test if the request is admitted. */
export function rejected(state: LimiterState, lim: Limits, req: AdmissionRequest, clock: number): Rejection {
  const result: Admission = admit(state, lim, req, clock);
  if (result.ok) throw new Error(`expected rejection, got reservation ${JSON.stringify(result.reservation)}`);
  return result.rejection;
}

/** A deep copy, to probe "what if" without disturbing the state under test. */
export function copy(state: LimiterState): LimiterState {
  return structuredClone(state);
}

/** Storage that behaves like Durable Object KV: values are copied in and out, undefined deletes. */
export class FakeStore {
  readonly entries = new Map<string, unknown>();

  persist(state: LimiterState): void {
    for (const [name, value] of takeChanges(state)) {
      if (value === undefined) this.entries.delete(name);
      else this.entries.set(name, structuredClone(value));
    }
  }

  load(): LimiterState {
    return hydrate([...this.entries].map(([name, value]): [string, unknown] => [name, structuredClone(value)]));
  }
}

/** Everything a state holds except the pending change set, in a form `toEqual` compares by value. */
export function contents(state: LimiterState): unknown {
  return {
    clock: state.clock,
    latencyMs: state.latencyMs,
    windows: [...state.windows].sort(([a], [b]) => a.localeCompare(b)),
    budgets: [...state.budgets].sort(([a], [b]) => a.localeCompare(b)),
    reservations: [...state.reservations].sort(([a], [b]) => a.localeCompare(b)),
  };
}

export { emptyState };
