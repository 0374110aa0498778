import { describe, expect, it } from "vitest";
import {
  admit,
  advance,
  cancelLeasedCall,
  closeHeldLease,
  closeLease,
  endLeasedCall,
  grantLease,
  growLeasedCall,
  holdLease,
  leaseUsed,
  modelScope,
  nextWakeAt,
  settle,
  sizeCall,
  slotsInUse,
  snapshot,
  useLease,
  WHOLE,
  type HeldLease,
  type LeasedCall,
  type LeaseSizing,
  type LeaseTerms,
  type LeaseWant,
  type Lease,
  type LimiterState,
  type Limits,
  type LocalRequest,
} from "../../src/limiter";
import { bucketTime, usage } from "../../src/limiter/window";
import { admitted, budget, contents, copy, emptyState, FakeStore, limits, MINUTE, modelLimits, price, rejected, request, SECOND } from "../helpers/limiter-fixtures";

// Leases: an owner lends a slice of its free room to a front door, which admits calls against it locally. Clocks are
// plain numbers; the owner's windows are MINUTE long (buckets of 100 ms) unless a test says otherwise.

const TERMS: LeaseTerms = { durationMs: 10 * SECOND, minFree: 0.1, share: 0.5 };

let leases = 0;
/** A front door's wish: far more than any owner lends unless overridden, so the owner's rules decide. */
function want(overrides: Partial<LeaseWant> = {}): LeaseWant {
  leases += 1;
  return { leaseId: `lease-${leases}`, model: "gpt-4o", tokens: 1e9, requests: 1e9, slots: 1e9, cost: 1e15, minTokens: 0, minCost: 0, ...overrides };
}

function granted(state: LimiterState, lim: Limits, wish: LeaseWant, clock: number, terms: LeaseTerms = TERMS): { lease: Lease; sizing: LeaseSizing } {
  const grant = grantLease(state, lim, wish, terms, clock);
  if (!grant.ok) throw new Error(`expected a lease, got ${grant.reason}`);
  return { lease: grant.lease, sizing: grant.sizing };
}

/** A front door holding a fresh lease. */
function holding(state: LimiterState, lim: Limits, wish: LeaseWant, clock: number, terms: LeaseTerms = TERMS): HeldLease {
  const { lease, sizing } = granted(state, lim, wish, clock, terms);
  return holdLease(lease, sizing);
}

let calls = 0;
/** A call as a front door sees it: 10 prompt tokens and a 10-token cap unless overridden. */
function local(overrides: Partial<LocalRequest> = {}): LocalRequest {
  calls += 1;
  return { requestId: `call-${calls}`, promptTokens: 10, maxOutputTokens: 10, price: null, ...overrides };
}

function used(held: HeldLease, req: LocalRequest, now: number, margin = 0): LeasedCall {
  const call = useLease(held, req, now, margin);
  if (!call) throw new Error(`expected ${req.requestId} to be admitted under the lease`);
  return call;
}

/** The owner's window in `scope`, as admission counts it at `clock` (on a copy: nothing moves). */
function windowAt(state: LimiterState, lim: Limits, clock: number, scope = WHOLE): { tokens: number; requests: number } {
  const probe = copy(state);
  advance(probe, lim, clock);
  return usage(probe.windows.get(scope) ?? { buckets: [] });
}

/** Non-empty buckets of a window scope: where each token and request is counted. */
function buckets(state: LimiterState, scope = WHOLE): Array<{ time: number; tokens: number; requests: number }> {
  return (state.windows.get(scope)?.buckets ?? []).filter((bucket) => bucket.tokens !== 0 || bucket.requests !== 0).map((bucket) => ({ ...bucket }));
}

/** Everything an owner state holds, leases included, for "changes nothing" checks. */
function everything(state: LimiterState): unknown {
  const { changed: _changed, ...rest } = copy(state);
  return rest;
}

/** What storage keeps of a state (contents() and the leases), compared by value. */
function persisted(state: LimiterState): unknown {
  return { ...(contents(state) as object), leases: [...state.leases].sort(([a], [b]) => a.localeCompare(b)) };
}

describe("granting a lease", () => {
  const lim = limits({ tpm: 1_000, rpm: 100, maxParallel: 4, budget: budget({ max: 100_000 }) });

  it("holds its tokens and requests in the current bucket, its cost in the budget's reserved and its slots against max_parallel", () => {
    const state = emptyState();
    const { lease } = granted(state, lim, want({ tokens: 300, requests: 10, slots: 2, cost: 5_000 }), 1_234);
    expect(lease).toMatchObject({ grantedAt: 1_234, bucket: 1_300, expiresAt: 1_234 + 10 * SECOND, tokens: 300, requests: 10, slots: 2, cost: 5_000, windows: [WHOLE], budgets: [WHOLE] });
    expect(buckets(state)).toEqual([{ time: 1_300, tokens: 300, requests: 10 }]);
    expect(state.budgets.get(WHOLE)).toMatchObject({ spend: 0, reserved: 5_000 });
    expect(slotsInUse(state)).toBe(2);
    expect(state.leases.get(lease.leaseId)).toEqual(lease);
    const view = snapshot(copy(state), lim, 1_234);
    expect(view.window).toMatchObject({ tokens: 300, requests: 10 });
    expect(view.budget).toMatchObject({ spend: 0, reserved: 5_000 });
    expect(view.inFlight).toBe(0);
    expect(view.leased).toEqual({ leases: 1, tokens: 300, requests: 10, slots: 2, cost: 5_000 });
  });

  it("counts its hold against direct admissions: the window and the budget both see it", () => {
    const state = emptyState();
    granted(state, lim, want({ tokens: 300, requests: 10, slots: 2, cost: 5_000 }), 0);
    expect(rejected(state, lim, request({ promptTokens: 600, maxOutputTokens: 101, price: price(0, 0) }), 10)).toMatchObject({ name: "tokens", remaining: 700, requested: 701 });
    expect(rejected(state, lim, request({ promptTokens: 96, maxOutputTokens: 0, price: price(1_000, 0) }), 10)).toMatchObject({ name: "budget", remaining: 95_000, requested: 96_000 });
    admitted(state, lim, request({ promptTokens: 95, maxOutputTokens: 0, price: price(1_000, 0) }), 10);
    admitted(state, lim, request({ promptTokens: 505, maxOutputTokens: 100, price: price(0, 0) }), 10);
  });

  it("that takes the last parallel slot makes the next admit fail with the parallel rejection", () => {
    const state = emptyState();
    const lim2 = limits({ maxParallel: 2 });
    admitted(state, lim2, request(), 0);
    const { lease } = granted(state, lim2, want(), 10, { ...TERMS, share: 1 });
    expect(lease.slots).toBe(1);
    expect(rejected(state, lim2, request(), 20)).toMatchObject({ name: "parallel_requests", reason: "limit", limit: 2, remaining: 0, requested: 1 });
  });

  it("never lends more than `share` of the free room of any dimension", () => {
    const state = emptyState();
    // 400 tokens, 1 request, 1 slot and 400 nano-dollars already in use.
    admitted(state, lim, request({ promptTokens: 200, maxOutputTokens: 200, price: price(1, 1) }), 0);
    const { lease } = granted(state, lim, want(), 100);
    expect(lease).toMatchObject({ tokens: 300, requests: 49, slots: 1, cost: Math.floor(0.5 * (100_000 - 400)) });
    // A quarter share lends a quarter of what is free now (the first lease's hold included).
    // (Without max_parallel here: a quarter of the 2 free slots rounds down to none, which is refused.)
    const second = granted(state, { ...lim, maxParallel: null }, want(), 200, { ...TERMS, share: 0.25 }).lease;
    expect(second).toMatchObject({ tokens: Math.floor(0.25 * 300), requests: Math.floor(0.25 * 50), cost: Math.floor(0.25 * (100_000 - 400 - lease.cost!)) });
  });

  it("never lends more than the front door wants", () => {
    const state = emptyState();
    const { lease } = granted(state, lim, want({ tokens: 50.9, requests: 3, slots: 1, cost: 77 }), 0);
    expect(lease).toMatchObject({ tokens: 50, requests: 3, slots: 1, cost: 77 });
  });

  it("lends nothing of a dimension the owner does not limit", () => {
    const state = emptyState();
    const { lease } = granted(state, limits({ tpm: 1_000 }), want(), 0);
    expect(lease).toMatchObject({ tokens: 500, requests: null, slots: null, cost: null });
    expect(slotsInUse(state)).toBe(0);
    expect(buckets(state)).toEqual([{ time: 0, tokens: 500, requests: 0 }]);
  });

  it("takes the tightest of the owner's and the model's own limits, and holds in both scopes", () => {
    const state = emptyState();
    const lim2 = limits({
      tpm: 1_000,
      rpm: 100,
      budget: budget({ max: 100_000 }),
      models: { "gpt-4o": modelLimits({ tpm: 200, rpm: 10, budget: budget({ max: 1_000 }) }) },
    });
    const { lease, sizing } = granted(state, lim2, want(), 0);
    expect(lease).toMatchObject({ tokens: 100, requests: 5, cost: 500, windows: [WHOLE, modelScope("gpt-4o")], budgets: [WHOLE, modelScope("gpt-4o")] });
    expect(sizing.tightestTpm).toBe(200);
    for (const scope of [WHOLE, modelScope("gpt-4o")]) {
      expect(buckets(state, scope)).toEqual([{ time: 0, tokens: 100, requests: 5 }]);
      expect(state.budgets.get(scope)?.reserved).toBe(500);
    }
    // Another model has only the owner's limits.
    expect(granted(state, lim2, want({ model: "other" }), 0).lease).toMatchObject({ tokens: 450, requests: 47, windows: [WHOLE], budgets: [WHOLE] });
  });

  describe("is refused near_limit when the free room is below minFree of the limit", () => {
    // Each limit is 20 units (times a scale); minFree 0.1 makes 2 units the threshold.
    const cases: Array<{ name: string; lim: Limits; use: (state: LimiterState, units: number) => void }> = [
      {
        name: "tokens",
        lim: limits({ tpm: 2_000 }),
        use: (state, units) => admitted(state, limits({ tpm: 2_000 }), request({ promptTokens: units * 100, maxOutputTokens: 0 }), 0),
      },
      {
        name: "requests",
        lim: limits({ rpm: 20 }),
        use: (state, units) => {
          for (let index = 0; index < units; index++) admitted(state, limits({ rpm: 20 }), request(), 0);
        },
      },
      {
        name: "parallel slots",
        lim: limits({ maxParallel: 20 }),
        use: (state, units) => {
          for (let index = 0; index < units; index++) admitted(state, limits({ maxParallel: 20 }), request(), 0);
        },
      },
      {
        name: "budget",
        lim: limits({ budget: budget({ max: 2_000 }) }),
        use: (state, units) => admitted(state, limits({ budget: budget({ max: 2_000 }) }), request({ promptTokens: units * 100, maxOutputTokens: 0, price: price(1, 1) }), 0),
      },
      {
        name: "a model's own budget",
        lim: limits({ models: { "gpt-4o": modelLimits({ budget: budget({ max: 2_000 }) }) } }),
        use: (state, units) =>
          admitted(state, limits({ models: { "gpt-4o": modelLimits({ budget: budget({ max: 2_000 }) }) } }), request({ promptTokens: units * 100, maxOutputTokens: 0, price: price(1, 1) }), 0),
      },
    ];
    for (const { name, lim: caseLimits, use } of cases) {
      it(name, () => {
        const below = emptyState();
        use(below, 19);
        const before = everything(below);
        expect(grantLease(below, caseLimits, want(), TERMS, 0)).toEqual({ ok: false, reason: "near_limit" });
        expect(everything(below)).toEqual(before);
        // Exactly minFree of the limit left: lent (half of it).
        const at = emptyState();
        use(at, 18);
        expect(grantLease(at, caseLimits, want(), TERMS, 0).ok).toBe(true);
      });
    }

    it("a full window is near_limit even with minFree 0", () => {
      const state = emptyState();
      admitted(state, limits({ tpm: 100 }), request({ promptTokens: 100, maxOutputTokens: 0 }), 0);
      expect(grantLease(state, limits({ tpm: 100 }), want(), { ...TERMS, minFree: 0 }, 0)).toEqual({ ok: false, reason: "near_limit" });
    });

    it("a lease smaller than the front door's minimum (one typical call) is refused", () => {
      expect(grantLease(emptyState(), limits({ tpm: 1_000 }), want({ minTokens: 501 }), TERMS, 0)).toEqual({ ok: false, reason: "near_limit" });
      expect(grantLease(emptyState(), limits({ tpm: 1_000 }), want({ minTokens: 500 }), TERMS, 0).ok).toBe(true);
      const money = limits({ budget: budget({ max: 1_000 }) });
      expect(grantLease(emptyState(), money, want({ minCost: 501 }), TERMS, 0)).toEqual({ ok: false, reason: "near_limit" });
      expect(grantLease(emptyState(), money, want({ minCost: 500 }), TERMS, 0).ok).toBe(true);
    });

    it("a share that rounds down to no request or no slot is refused", () => {
      expect(grantLease(emptyState(), limits({ rpm: 1 }), want(), TERMS, 0)).toEqual({ ok: false, reason: "near_limit" });
      expect(grantLease(emptyState(), limits({ maxParallel: 1 }), want(), TERMS, 0)).toEqual({ ok: false, reason: "near_limit" });
      expect(grantLease(emptyState(), limits({ maxParallel: 1 }), want(), { ...TERMS, share: 1 }, 0).ok).toBe(true);
    });
  });

  it("is refused not_leasable for limits it cannot reproduce locally (input or output windows, request-time counting)", () => {
    for (const overrides of [{ inputTpm: 1_000 }, { outputTpm: 1_000 }, { keepReservation: true }] satisfies Array<Partial<Limits>>) {
      const state = emptyState();
      expect(grantLease(state, limits({ tpm: 10_000, ...overrides }), want(), TERMS, 0)).toEqual({ ok: false, reason: "not_leasable" });
      expect(state.leases.size).toBe(0);
      expect(state.windows.size).toBe(0);
    }
  });

  it("lasts durationMs, never more than a quarter of the window", () => {
    const state = emptyState();
    expect(granted(state, limits({ tpm: 1_000 }), want(), 1_000, { ...TERMS, durationMs: 5 * SECOND }).lease.expiresAt).toBe(6_000);
    expect(granted(state, limits({ tpm: 1_000 }), want(), 1_000, { ...TERMS, durationMs: MINUTE }).lease.expiresAt).toBe(1_000 + MINUTE / 4);
    expect(granted(state, limits({ tpm: 1_000, windowMs: 1_000 }), want(), 1_000, { ...TERMS, durationMs: MINUTE }).lease.expiresAt).toBe(1_250);
  });
});

describe("admitting under a lease (front door)", () => {
  it("admits while tokens are left and refuses the call that would exceed them", () => {
    const held = holding(emptyState(), limits({ tpm: 1_000 }), want({ tokens: 100 }), 0);
    for (let index = 0; index < 3; index++) used(held, local({ promptTokens: 10, maxOutputTokens: 20 }), 10);
    expect(held.tokens).toBe(90);
    expect(useLease(held, local({ promptTokens: 10, maxOutputTokens: 20 }), 10, 0)).toBeNull();
    used(held, local({ promptTokens: 5, maxOutputTokens: 5 }), 10);
    expect(held.tokens).toBe(100);
    expect(leaseUsed(held)).toBe(1);
  });

  it("refuses the call over the lease's requests", () => {
    const held = holding(emptyState(), limits({ rpm: 100 }), want({ requests: 3 }), 0);
    for (let index = 0; index < 3; index++) used(held, local(), 10);
    expect(useLease(held, local(), 10, 0)).toBeNull();
    expect(held.requests).toBe(3);
  });

  it("refuses the call over the lease's parallel slots until a call ends", () => {
    const held = holding(emptyState(), limits({ maxParallel: 10 }), want({ slots: 2 }), 0);
    const first = used(held, local(), 10);
    used(held, local(), 10);
    expect(useLease(held, local(), 10, 0)).toBeNull();
    expect(endLeasedCall(held, first.requestId, { tokens: 5, cost: 0 }, undefined, 20)).toBe(true);
    used(held, local(), 20);
    expect(held.live).toBe(2);
  });

  it("refuses the call whose worst cost exceeds the lease's money", () => {
    const held = holding(emptyState(), limits({ budget: budget({ max: 1_000 }) }), want({ cost: 100 }), 0);
    const call = used(held, local({ promptTokens: 10, maxOutputTokens: 10, price: price(1, 2) }), 10);
    expect(call.cost).toBe(30);
    used(held, local({ promptTokens: 10, maxOutputTokens: 10, price: price(1, 2) }), 10);
    used(held, local({ promptTokens: 10, maxOutputTokens: 10, price: price(1, 2) }), 10);
    expect(useLease(held, local({ promptTokens: 10, maxOutputTokens: 10, price: price(1, 2) }), 10, 0)).toBeNull();
    used(held, local({ promptTokens: 10, maxOutputTokens: 0, price: price(1, 2) }), 10);
    expect(held.cost).toBe(100);
  });

  it("refuses a call with no price when the lease holds money, and admits it when the owner has no money limit", () => {
    const money = holding(emptyState(), limits({ budget: budget({ max: 1_000 }) }), want(), 0);
    expect(useLease(money, local({ price: null }), 10, 0)).toBeNull();
    expect(money.requests).toBe(0);
    const tokensOnly = holding(emptyState(), limits({ tpm: 1_000 }), want(), 0);
    expect(used(tokensOnly, local({ price: null }), 10).cost).toBe(0);
  });

  it("stops admitting `margin` before the lease ends, and never before it was granted", () => {
    const held = holding(emptyState(), limits({ tpm: 1_000 }), want(), 1_000);
    const end = held.lease.expiresAt;
    expect(useLease(held, local(), 999, 0)).toBeNull();
    used(held, local(), end - 501, 500);
    expect(useLease(held, local(), end - 500, 500)).toBeNull();
    used(held, local(), end - 1, 0);
    expect(useLease(held, local(), end, 0)).toBeNull();
  });

  it("admits nothing once it is being given back, and lists every call for the owner", () => {
    const held = holding(emptyState(), limits({ tpm: 1_000 }), want(), 0);
    const first = used(held, local(), 10);
    const second = used(held, local(), 20);
    endLeasedCall(held, first.requestId, { tokens: 7, cost: 0 }, undefined, 30);
    const reported = closeHeldLease(held);
    expect(reported.map((call) => call.requestId)).toEqual([first.requestId, second.requestId]);
    expect(reported[0]?.ended).toEqual({ used: { tokens: 7, cost: 0 }, at: 30 });
    expect(reported[1]?.ended).toBeUndefined();
    expect(useLease(held, local(), 40, 0)).toBeNull();
  });

  it("ending a call frees the unused part of its reservation for other calls", () => {
    const held = holding(emptyState(), limits({ tpm: 1_000, budget: budget({ max: 1_000 }) }), want({ tokens: 100, cost: 100 }), 0);
    const first = used(held, local({ promptTokens: 10, maxOutputTokens: 50, price: price(1, 1) }), 10);
    expect(useLease(held, local({ promptTokens: 10, maxOutputTokens: 50, price: price(1, 1) }), 10, 0)).toBeNull();
    expect(endLeasedCall(held, first.requestId, { tokens: 20, cost: 20 }, undefined, 20)).toBe(true);
    expect(held).toMatchObject({ tokens: 20, cost: 20, requests: 1, live: 0 });
    used(held, local({ promptTokens: 10, maxOutputTokens: 50, price: price(1, 1) }), 20);
    expect(held).toMatchObject({ tokens: 80, cost: 80, requests: 2, live: 1 });
    // Ended once only; an unknown call is not ended.
    expect(endLeasedCall(held, first.requestId, { tokens: 1, cost: 1 }, undefined, 30)).toBe(false);
    expect(endLeasedCall(held, "nope", null, undefined, 30)).toBe(false);
    expect(held.tokens).toBe(80);
  });

  it("a call that consumed nothing gives back its tokens and money but keeps its request", () => {
    const held = holding(emptyState(), limits({ tpm: 1_000, rpm: 100 }), want({ requests: 2 }), 0);
    const call = used(held, local(), 10);
    endLeasedCall(held, call.requestId, null, undefined, 20);
    expect(held).toMatchObject({ tokens: 0, cost: 0, requests: 1, live: 0 });
  });

  it("cancelling a call gives everything back, its request included, as if it had never been admitted", () => {
    const held = holding(emptyState(), limits({ tpm: 1_000, rpm: 100, budget: budget({ max: 1_000 }) }), want({ requests: 1 }), 0);
    const call = used(held, local({ price: price(1, 1) }), 10);
    expect(useLease(held, local({ price: price(1, 1) }), 10, 0)).toBeNull();
    expect(cancelLeasedCall(held, call.requestId)).toBe(true);
    expect(held).toMatchObject({ tokens: 0, cost: 0, requests: 0, live: 0 });
    expect(held.calls.has(call.requestId)).toBe(false);
    expect(cancelLeasedCall(held, call.requestId)).toBe(false);
    const next = used(held, local({ price: price(1, 1) }), 20);
    endLeasedCall(held, next.requestId, { tokens: 3, cost: 3 }, undefined, 30);
    expect(cancelLeasedCall(held, next.requestId)).toBe(false);
  });

  it("growing a streaming call may overdraw the lease; later calls are refused", () => {
    const held = holding(emptyState(), limits({ tpm: 1_000 }), want({ tokens: 100 }), 0);
    const call = used(held, local({ promptTokens: 50, maxOutputTokens: 50 }), 10);
    expect(growLeasedCall(held, call.requestId, 49.5)).toBe(true);
    expect(held.tokens).toBe(150);
    expect(held.calls.get(call.requestId)?.tokens).toBe(150);
    expect(leaseUsed(held)).toBe(1.5);
    expect(useLease(held, local({ promptTokens: 0, maxOutputTokens: 0 }), 10, 0)).toBeNull();
    expect(growLeasedCall(held, call.requestId, 0)).toBe(false);
    endLeasedCall(held, call.requestId, { tokens: 120, cost: 0 }, undefined, 20);
    expect(growLeasedCall(held, call.requestId, 10)).toBe(false);
  });

  it("reports how much of the lease is used as its fullest dimension", () => {
    const held = holding(emptyState(), limits({ tpm: 1_000, rpm: 100, budget: budget({ max: 10_000 }) }), want({ tokens: 100, requests: 10, cost: 1_000 }), 0);
    expect(leaseUsed(held)).toBe(0);
    used(held, local({ promptTokens: 10, maxOutputTokens: 10, price: price(1, 1) }), 10);
    expect(leaseUsed(held)).toBe(0.2);
    expect(leaseUsed(holdLease({ ...held.lease, tokens: null, requests: null, cost: null }, held.sizing))).toBe(0);
  });
});

describe("giving a lease back", () => {
  const lim = limits({ tpm: 1_000, rpm: 100, maxParallel: 10, budget: budget({ max: 1_000_000 }) });

  it("takes the lease's hold out of the windows, the budget and the parallel slots", () => {
    const state = emptyState();
    const held = holding(state, lim, want({ tokens: 300, requests: 10, slots: 2, cost: 5_000 }), 1_000);
    expect(closeLease(state, lim, held.lease.leaseId, closeHeldLease(held), 2_000)).toEqual({ found: true, settlements: [] });
    expect(buckets(state)).toEqual([]);
    expect(state.budgets.get(WHOLE)).toMatchObject({ spend: 0, reserved: 0 });
    expect(slotsInUse(state)).toBe(0);
    expect(state.leases.size).toBe(0);
    expect(snapshot(copy(state), lim, 2_000).leased).toEqual({ leases: 0, tokens: 0, requests: 0, slots: 0, cost: 0 });
  });

  it("charges each ended call its real tokens in the bucket of its own admission instant and books its cost as spend, one settlement each", () => {
    const state = emptyState();
    const held = holding(state, lim, want(), 1_000);
    const a = used(held, local({ promptTokens: 10, maxOutputTokens: 40, price: price(1, 1) }), 1_050);
    const b = used(held, local({ promptTokens: 10, maxOutputTokens: 40, price: price(1, 1) }), 2_345);
    endLeasedCall(held, a.requestId, { tokens: 12, cost: 7 }, { prompt: 10, completion: 2 }, 1_500);
    endLeasedCall(held, b.requestId, null, undefined, 2_400);
    const { found, settlements } = closeLease(state, lim, held.lease.leaseId, closeHeldLease(held), 3_000);
    expect(found).toBe(true);
    expect(buckets(state)).toEqual([
      { time: 1_100, tokens: 12, requests: 1 },
      { time: 2_400, tokens: 0, requests: 1 },
    ]);
    expect(state.budgets.get(WHOLE)).toMatchObject({ spend: 7, reserved: 0 });
    expect(state.reservations.size).toBe(0);
    expect(settlements.map((settlement) => [settlement.reservation.requestId, settlement.outcome, settlement.tokens, settlement.cost, settlement.at])).toEqual([
      [a.requestId, "settled", 12, 7, 3_000],
      [b.requestId, "released", 0, 0, 3_000],
    ]);
    expect(settlements[0]?.reservation).toMatchObject({ admittedAt: 1_050, bucket: 1_100, tokens: 50, cost: 50, windows: [WHOLE], budgets: [WHOLE] });
    expect(settlements[0]?.split).toEqual({ prompt: 10, completion: 2 });
    // The call's duration is learned from when it really ended, not from when the lease came back.
    expect(state.latencyMs).toBe(450);
  });

  it("counts a call no earlier than the lease was granted and no later than now", () => {
    const state = emptyState();
    const held = holding(state, lim, want(), 1_000);
    const early: LeasedCall = { ...used(held, local({ price: price(1, 1) }), 1_000), admittedAt: 500 };
    const late: LeasedCall = { ...used(held, local({ price: price(1, 1) }), 1_000), requestId: "late", admittedAt: 9_999 };
    closeLease(state, lim, held.lease.leaseId, [early, late], 3_000);
    expect(state.reservations.get(early.requestId)).toMatchObject({ admittedAt: 1_000, bucket: 1_000 });
    expect(state.reservations.get("late")).toMatchObject({ admittedAt: 3_000, bucket: 3_000 });
    expect(buckets(state)).toEqual([
      { time: 1_000, tokens: 20, requests: 1 },
      { time: 3_000, tokens: 20, requests: 1 },
    ]);
  });

  it("turns calls still in flight into reservations that settle() ends later", () => {
    const state = emptyState();
    const held = holding(state, lim, want(), 1_000);
    const call = used(held, local({ promptTokens: 10, maxOutputTokens: 40, price: price(1, 2), endUser: "alice" }), 1_200);
    expect(closeLease(state, lim, held.lease.leaseId, closeHeldLease(held), 2_000)).toEqual({ found: true, settlements: [] });
    expect(state.reservations.get(call.requestId)).toMatchObject({
      requestId: call.requestId,
      model: "gpt-4o",
      admittedAt: 1_200,
      bucket: 1_200,
      tokens: 50,
      promptTokens: 10,
      cost: 90,
      endUser: "alice",
      expiresAt: 1_200 + lim.reservationTtlMs,
    });
    const view = snapshot(copy(state), lim, 2_000);
    expect(view).toMatchObject({ inFlight: 1, reservedTokens: 50, window: { tokens: 50, requests: 1 }, budget: { spend: 0, reserved: 90 } });
    expect(view.leased.leases).toBe(0);
    expect(slotsInUse(state)).toBe(1);
    const done = settle(state, lim, call.requestId, { tokens: 30, cost: 40 }, 2_500);
    expect(done).toMatchObject({ outcome: "settled", tokens: 30, cost: 40 });
    expect(state.budgets.get(WHOLE)).toMatchObject({ spend: 40, reserved: 0 });
    expect(buckets(state)).toEqual([{ time: 1_200, tokens: 30, requests: 1 }]);
  });

  it("counts a call in flight reported twice once", () => {
    const state = emptyState();
    const held = holding(state, lim, want(), 1_000);
    const call = used(held, local({ price: price(1, 1) }), 1_100);
    closeLease(state, lim, held.lease.leaseId, [call, call], 2_000);
    expect(state.reservations.size).toBe(1);
    expect(buckets(state)).toEqual([{ time: 1_100, tokens: 20, requests: 1 }]);
    expect(state.budgets.get(WHOLE)?.reserved).toBe(20);
  });

  it("counts an ended call reported twice once", () => {
    const state = emptyState();
    const held = holding(state, lim, want(), 1_000);
    const call = used(held, local({ price: price(1, 1) }), 1_100);
    endLeasedCall(held, call.requestId, { tokens: 15, cost: 15 }, undefined, 1_500);
    const reported = closeHeldLease(held);
    const { settlements } = closeLease(state, lim, held.lease.leaseId, [...reported, ...reported], 2_000);
    expect(settlements).toHaveLength(1);
    expect(buckets(state)).toEqual([{ time: 1_100, tokens: 15, requests: 1 }]);
    expect(state.budgets.get(WHOLE)).toMatchObject({ spend: 15, reserved: 0 });
  });

  it("settles an ended call from its real usage even when its reservation deadline has passed by the time the lease is back", () => {
    // reservationTtlMs shorter than the lease: the reservation closeLease builds for the call is already past due.
    const short = { ...lim, reservationTtlMs: SECOND };
    const state = emptyState();
    const held = holding(state, short, want(), 1_000);
    const call = used(held, local({ price: price(1, 1) }), 1_100);
    endLeasedCall(held, call.requestId, { tokens: 15, cost: 15 }, undefined, 1_200);
    const { settlements } = closeLease(state, short, held.lease.leaseId, closeHeldLease(held), 5_000);
    expect(settlements.map((settlement) => [settlement.outcome, settlement.tokens, settlement.cost])).toEqual([["settled", 15, 15]]);
    expect(state.budgets.get(WHOLE)).toMatchObject({ spend: 15, reserved: 0 });
  });

  it("a second give-back of the same lease changes nothing", () => {
    const state = emptyState();
    const held = holding(state, lim, want(), 1_000);
    const call = used(held, local({ price: price(1, 1) }), 1_100);
    endLeasedCall(held, call.requestId, { tokens: 15, cost: 15 }, undefined, 1_500);
    const reported = closeHeldLease(held);
    closeLease(state, lim, held.lease.leaseId, reported, 2_000);
    const before = everything(state);
    expect(closeLease(state, lim, held.lease.leaseId, reported, 2_000)).toEqual({ found: false, settlements: [] });
    expect(everything(state)).toEqual(before);
  });

  it("closing an unknown lease, or one that already expired, finds nothing and changes nothing", () => {
    const state = emptyState();
    admitted(state, lim, request({ price: price(1, 1) }), 0);
    const before = everything(state);
    expect(closeLease(state, lim, "nope", [], 0)).toEqual({ found: false, settlements: [] });
    expect(everything(state)).toEqual(before);

    const held = holding(state, lim, want({ tokens: 200, cost: 1_000 }), 1_000);
    const call = used(held, local({ price: price(1, 1) }), 1_100);
    endLeasedCall(held, call.requestId, { tokens: 15, cost: 15 }, undefined, 1_500);
    advance(state, lim, held.lease.expiresAt);
    const expired = everything(state);
    expect(closeLease(state, lim, held.lease.leaseId, closeHeldLease(held), held.lease.expiresAt)).toEqual({ found: false, settlements: [] });
    expect(everything(state)).toEqual(expired);
    expect(state.budgets.get(WHOLE)?.spend).toBe(1_000);
  });
});

describe("a lease that is never given back", () => {
  const lim = limits({ tpm: 1_000, rpm: 100, maxParallel: 10, budget: budget({ max: 1_000_000 }) });

  it("is charged in full when advance() passes its deadline: its cost becomes spend, its tokens stay until they leave the window", () => {
    const state = emptyState();
    const { lease } = granted(state, lim, want({ tokens: 300, requests: 10, slots: 2, cost: 5_000 }), 1_000);
    expect(advance(state, lim, lease.expiresAt - 1).expired).toEqual([]);
    expect(state.leases.size).toBe(1);
    const { expired } = advance(state, lim, lease.expiresAt);
    expect(expired).toHaveLength(1);
    expect(expired[0]).toMatchObject({ outcome: "expired", tokens: 300, cost: 5_000, at: lease.expiresAt });
    expect(expired[0]?.reservation).toMatchObject({ requestId: lease.leaseId, model: "gpt-4o", admittedAt: 1_000, tokens: 300, cost: 5_000 });
    expect(state.leases.size).toBe(0);
    expect(slotsInUse(state)).toBe(0);
    expect(state.budgets.get(WHOLE)).toMatchObject({ spend: 5_000, reserved: 0 });
    expect(windowAt(state, lim, lease.expiresAt)).toEqual({ tokens: 300, requests: 10 });
    // Charged once.
    expect(advance(state, lim, lease.expiresAt + MINUTE).expired).toEqual([]);
    expect(state.budgets.get(WHOLE)).toMatchObject({ spend: 5_000, reserved: 0 });
    expect(windowAt(state, lim, lease.expiresAt + MINUTE)).toEqual({ tokens: 0, requests: 0 });
  });

  it("keeps its tokens in the window as long as the calls admitted under it count in a real sliding window", () => {
    // A front door admits a call late in its lease and then dies: the owner never hears of it. The call's tokens
    // count in any real window that contains its admission instant, i.e. until admission + windowMs.
    const state = emptyState();
    const held = holding(state, lim, want({ tokens: 300, requests: 10 }), 1_000);
    const late = held.lease.expiresAt - 1;
    used(held, local({ promptTokens: 100, maxOutputTokens: 200, price: price(1, 1) }), late);
    advance(state, lim, held.lease.expiresAt);
    expect(windowAt(state, lim, late + MINUTE - 1).tokens).toBe(300);
  });

  it("wakes the owner: nextWakeAt includes lease deadlines", () => {
    const state = emptyState();
    expect(nextWakeAt(state)).toBeNull();
    const { lease } = granted(state, lim, want(), 1_000);
    expect(nextWakeAt(state)).toBe(lease.expiresAt);
    const reservation = admitted(state, lim, request({ price: price(1, 1) }), 1_000);
    expect(reservation.expiresAt).toBeGreaterThan(lease.expiresAt);
    expect(nextWakeAt(state)).toBe(lease.expiresAt);
    const sooner = granted(state, lim, want(), 2_000, { ...TERMS, durationMs: 100 }).lease;
    expect(nextWakeAt(state)).toBe(sooner.expiresAt);
    advance(state, lim, lease.expiresAt);
    expect(nextWakeAt(state)).toBe(reservation.expiresAt);
  });
});

describe("sizing a call under a lease", () => {
  const strict: LeaseSizing = { policy: "strict", promptRatio: 1, output: null, defaultOutputTokens: 256, tightestTpm: 300 };

  it("strict: the prompt's bound plus the cap; money at the worst case", () => {
    expect(sizeCall(strict, local({ promptTokens: 100, maxOutputTokens: 50 }))).toEqual({ tokens: 150, promptTokens: 100, cost: null });
    expect(sizeCall(strict, local({ promptTokens: 100, maxOutputTokens: 50, price: price(2, 3) }))).toEqual({ tokens: 150, promptTokens: 100, cost: 350 });
    expect(sizeCall(strict, local({ promptTokens: 100, maxOutputTokens: 50, price: { input: 2, output: 3, cacheWrite: 5 }, cacheWrites: true })).cost).toBe(650);
  });

  it("strict: without a cap, the default output clamped to what the tightest token limit can hold", () => {
    expect(sizeCall(strict, local({ promptTokens: 100, maxOutputTokens: null }))).toMatchObject({ tokens: 300, promptTokens: 100 });
    expect(sizeCall(strict, local({ promptTokens: 10, maxOutputTokens: null, price: price(1, 1) }))).toEqual({ tokens: 266, promptTokens: 10, cost: 266 });
    expect(sizeCall(strict, local({ promptTokens: 400, maxOutputTokens: null }))).toMatchObject({ tokens: 400 });
    expect(sizeCall({ ...strict, tightestTpm: null }, local({ promptTokens: 100, maxOutputTokens: null }))).toMatchObject({ tokens: 356 });
  });

  it("strict: sizes every call exactly as the owner's own admission would", () => {
    const lim = limits({ tpm: 1_000, budget: budget({ max: 1e9 }), models: { "gpt-4o": modelLimits({ tpm: 300 }) } });
    const state = emptyState();
    const { sizing } = granted(state, lim, want({ tokens: 1 }), 0);
    expect(sizing).toEqual({ policy: "strict", promptRatio: 1, output: null, defaultOutputTokens: 256, tightestTpm: 300 });
    for (const overrides of [
      { promptTokens: 100, maxOutputTokens: 50 },
      { promptTokens: 100, maxOutputTokens: null },
      { promptTokens: 120, maxOutputTokens: null, promptExact: true },
      { promptTokens: 0, maxOutputTokens: 0 },
    ] satisfies Array<Partial<LocalRequest>>) {
      const req = local({ ...overrides, price: price(2, 3) });
      const reservation = admitted(emptyState(), lim, { ...req, model: "gpt-4o" }, 0);
      expect(sizeCall(sizing, req)).toEqual({ tokens: reservation.tokens, promptTokens: reservation.promptTokens, cost: reservation.cost });
    }
  });

  it("adaptive: an inexact prompt is scaled by the learned ratio (never above its bound), an exact one is kept", () => {
    const adaptive: LeaseSizing = { policy: "adaptive", promptRatio: 0.5, output: 80, defaultOutputTokens: 256, tightestTpm: 1_000 };
    expect(sizeCall(adaptive, local({ promptTokens: 101, maxOutputTokens: 200 }))).toMatchObject({ tokens: 51 + 80, promptTokens: 51 });
    expect(sizeCall(adaptive, local({ promptTokens: 101, promptExact: true, maxOutputTokens: 200 }))).toMatchObject({ tokens: 101 + 80, promptTokens: 101 });
    expect(sizeCall({ ...adaptive, promptRatio: 1.5 }, local({ promptTokens: 100, maxOutputTokens: 200 }))).toMatchObject({ promptTokens: 100 });
  });

  it("adaptive: the learned output when it is lower than the cap, else the cap; money still at the worst case", () => {
    const adaptive: LeaseSizing = { policy: "adaptive", promptRatio: 1, output: 80, defaultOutputTokens: 256, tightestTpm: 1_000 };
    expect(sizeCall(adaptive, local({ promptTokens: 100, maxOutputTokens: 200, price: price(1, 1) }))).toEqual({ tokens: 180, promptTokens: 100, cost: 300 });
    expect(sizeCall(adaptive, local({ promptTokens: 100, maxOutputTokens: 40, price: price(1, 1) }))).toEqual({ tokens: 140, promptTokens: 100, cost: 140 });
    expect(sizeCall(adaptive, local({ promptTokens: 100, maxOutputTokens: null, price: price(1, 1) }))).toEqual({ tokens: 180, promptTokens: 100, cost: 356 });
    // Not learned yet: sized like strict.
    expect(sizeCall({ ...adaptive, output: null }, local({ promptTokens: 100, maxOutputTokens: 200 }))).toMatchObject({ tokens: 300 });
    expect(sizeCall({ ...adaptive, output: null }, local({ promptTokens: 100, maxOutputTokens: null }))).toMatchObject({ tokens: 356 });
  });

  it("adaptive: the owner hands out what it learned", () => {
    const lim = limits({ tpm: 100_000, policy: "adaptive" });
    const state = emptyState();
    expect(granted(state, lim, want(), 0).sizing).toEqual({ policy: "adaptive", promptRatio: 1, output: null, defaultOutputTokens: 256, tightestTpm: 100_000 });
    let clock = 10;
    for (let index = 0; index < 20; index++) {
      const reservation = admitted(state, lim, request({ promptTokens: 100, maxOutputTokens: 4_096 }), clock);
      clock += 10;
      settle(state, lim, reservation.requestId, { tokens: 250, cost: 0 }, clock, { prompt: 50, completion: 200 });
    }
    const { sizing } = granted(state, lim, want(), clock);
    expect(sizing.output).not.toBeNull();
    expect(sizing.output!).toBeGreaterThanOrEqual(200);
    expect(sizing.output!).toBeLessThan(300);
    expect(sizing.promptRatio).toBeGreaterThanOrEqual(0.5);
    expect(sizing.promptRatio).toBeLessThanOrEqual(0.5 * 1.1 * 1.1);
  });
});

describe("persistence", () => {
  it("takeChanges and hydrate round-trip a state with a live lease", () => {
    const lim = limits({ tpm: 1_000, rpm: 100, maxParallel: 10, budget: budget({ max: 1_000_000 }), models: { "gpt-4o": modelLimits({ tpm: 500 }) } });
    const live = emptyState();
    const store = new FakeStore();
    admitted(live, lim, request({ price: price(1, 1) }), 0);
    const held = holding(live, lim, want({ slots: 3 }), 100);
    store.persist(live);
    const stored = store.load();
    expect(stored.leases.get(held.lease.leaseId)).toEqual(held.lease);
    expect(persisted(stored)).toEqual(persisted(live));
    expect(slotsInUse(stored)).toBe(slotsInUse(live));
    expect(snapshot(copy(stored), lim, 200)).toEqual(snapshot(copy(live), lim, 200));

    // Giving it back works the same on the stored copy, and the lease's entry is deleted from storage.
    const call = used(held, local({ price: price(1, 1) }), 150);
    endLeasedCall(held, call.requestId, { tokens: 5, cost: 5 }, undefined, 160);
    const reported = closeHeldLease(held);
    expect(closeLease(stored, lim, held.lease.leaseId, reported, 200)).toEqual(closeLease(live, lim, held.lease.leaseId, reported, 200));
    store.persist(live);
    expect(store.entries.has(`l:${held.lease.leaseId}`)).toBe(false);
    expect(persisted(store.load())).toEqual(persisted(live));
  });

  it("a stored lease still expires and is charged in full after a restart", () => {
    const lim = limits({ tpm: 1_000, budget: budget({ max: 1_000_000 }) });
    const live = emptyState();
    const store = new FakeStore();
    const { lease } = granted(live, lim, want({ cost: 700 }), 0);
    store.persist(live);
    const stored = store.load();
    expect(advance(stored, lim, lease.expiresAt).expired.map((settlement) => [settlement.outcome, settlement.cost])).toEqual([["expired", 700]]);
    expect(stored.budgets.get(WHOLE)).toMatchObject({ spend: 700, reserved: 0 });
  });
});

// The admission instant of a call counted after the lease comes back is its own bucket, not the lease's: this pins
// the bucket arithmetic the tests above rely on.
it("buckets are 100 ms wide for a one-minute window", () => {
  expect(bucketTime(1_234, MINUTE)).toBe(1_300);
  expect(bucketTime(1_300, MINUTE)).toBe(1_300);
});

// Admission counts leased slots: kept here so the parallel rule is tested with leases as well as reservations.
it("admit() reports the parallel slots remaining net of leased ones", () => {
  const lim = limits({ maxParallel: 5 });
  const state = emptyState();
  granted(state, lim, want({ slots: 2 }), 0);
  admitted(state, lim, request(), 0);
  admitted(state, lim, request(), 0);
  admitted(state, lim, request(), 0);
  expect(admit(state, lim, request(), 0)).toMatchObject({ ok: false, rejection: { name: "parallel_requests", remaining: 0 } });
});
