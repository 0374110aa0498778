import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  admit,
  advance,
  cancel,
  hydrate,
  release,
  settle,
  snapshot,
  takeChanges,
  type LimiterState,
  type Limits,
} from "../../src/limiter";
import { budget, contents, copy, emptyState, FakeStore, limits, modelLimits, period, price, request } from "../helpers/limiter-fixtures";

const lim: Limits = limits({
  windowMs: 1_000,
  tpm: 400,
  rpm: 6,
  maxParallel: 3,
  budget: budget({ max: 5_000, soft: 1_000, period: period(5, "s") }),
  models: {
    "org:gpt-4o": modelLimits({ tpm: 200, rpm: 3, budget: budget({ max: 2_000, period: period(3, "s") }) }),
    mini: modelLimits({ rpm: 2 }),
  },
  reservationTtlMs: 2_500,
});

/** The persisted copy must look and behave exactly like the live state. */
function expectSameAsStored(live: LimiterState, store: FakeStore): void {
  const stored = store.load();
  expect(contents(stored)).toEqual(contents(live));
  for (const later of [live.clock, live.clock + 700, live.clock + 3_000]) {
    expect(snapshot(copy(stored), lim, later)).toEqual(snapshot(copy(live), lim, later));
    const probe = request({ requestId: "probe", model: "org:gpt-4o", promptTokens: 40, maxOutputTokens: 40, price: price(1, 1) });
    expect(admit(copy(stored), lim, probe, later)).toEqual(admit(copy(live), lim, probe, later));
  }
}

describe("persistence through takeChanges and hydrate", () => {
  it("an empty state round-trips", () => {
    const live = emptyState();
    const store = new FakeStore();
    store.persist(live);
    expectSameAsStored(live, store);
  });

  it("a typical day round-trips after every operation", () => {
    const live = emptyState();
    const store = new FakeStore();
    const step = (operation: () => unknown) => {
      operation();
      store.persist(live);
      expectSameAsStored(live, store);
    };
    const a = request({ model: "org:gpt-4o", promptTokens: 50, maxOutputTokens: 50, price: price(2, 3) });
    const b = request({ model: "mini", promptTokens: 20, maxOutputTokens: 20, price: price(1, 1) });
    const c = request({ model: "other", promptTokens: 10, maxOutputTokens: 10, price: price(1, 1) });
    step(() => admit(live, lim, a, 100));
    step(() => admit(live, lim, b, 150));
    step(() => admit(live, lim, c, 150));
    step(() => advance(live, lim, 500));
    step(() => settle(live, lim, a.requestId, { tokens: 60, cost: 150 }, 500)); // same instant: only the latency changes
    step(() => release(live, lim, b.requestId, 900));
    step(() => advance(live, lim, 1_200)); // buckets leave the window
    step(() => admit(live, lim, request({ model: "mini", price: price(1, 1) }), 1_300));
    step(() => advance(live, lim, 4_000)); // c expires, a budget resets
    step(() => cancel(live, lim, "unknown", 4_100));
    step(() => advance(live, lim, 3_000)); // the host clock goes backwards
    step(() => advance(live, lim, 60_000));
  });

  it("persisting rarely is the same as persisting often", () => {
    const live = emptyState();
    const store = new FakeStore();
    const x = request({ model: "org:gpt-4o", price: price(1, 1) });
    admit(live, lim, x, 10);
    admit(live, lim, request({ model: "mini", price: price(1, 1) }), 20);
    settle(live, lim, x.requestId, { tokens: 5, cost: 5 }, 30);
    advance(live, lim, 1_100);
    store.persist(live);
    expectSameAsStored(live, store);
  });

  it("entries may come back in any order", () => {
    const live = emptyState();
    for (let clock = 0; clock < 900; clock += 90) admit(live, lim, request({ model: "org:gpt-4o", price: price(1, 1) }), clock);
    const entries = takeChanges(live).filter(([, value]) => value !== undefined);
    expect(contents(hydrate(structuredClone(entries).reverse()))).toEqual(contents(live));
  });

  it("a durable limiter that persists and restarts at random behaves exactly like one that never does", () => {
    const model = fc.constantFrom("org:gpt-4o", "mini", "other");
    const op = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          kind: fc.constant("admit" as const),
          model,
          prompt: fc.integer({ min: 0, max: 120 }),
          cap: fc.option(fc.integer({ min: 0, max: 120 }), { nil: null }),
          priced: fc.boolean(),
        }),
      },
      { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom("settle" as const, "release" as const, "cancel" as const), pick: fc.nat(), used: fc.nat(100) }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant("tick" as const), dt: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.integer({ min: -300, max: 6_000 })) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom("advance" as const, "snapshot" as const) }) },
    );
    // What the owner does after an operation: nothing yet, persist, or persist and reload (a Durable Object restart).
    const after = fc.constantFrom("nothing" as const, "nothing" as const, "persist" as const, "restart" as const);
    fc.assert(
      fc.property(fc.array(fc.tuple(op, after), { maxLength: 60 }), (steps) => {
        const reference = emptyState();
        let durable = emptyState();
        const store = new FakeStore();
        const ids: string[] = [];
        let clock = 0;
        let next = 0;
        for (const [o, then] of steps) {
          switch (o.kind) {
            case "admit": {
              const req = request({
                requestId: `r${next++}`,
                model: o.model,
                promptTokens: o.prompt,
                maxOutputTokens: o.cap,
                price: o.priced ? price(1, 2) : null,
              });
              ids.push(req.requestId);
              expect(admit(durable, lim, req, clock)).toEqual(admit(reference, lim, req, clock));
              break;
            }
            case "settle":
            case "release":
            case "cancel": {
              const id = ids.length === 0 ? "none" : (ids[o.pick % ids.length] ?? "none");
              const end = (state: LimiterState) =>
                o.kind === "settle"
                  ? settle(state, lim, id, { tokens: o.used, cost: o.used }, clock)
                  : o.kind === "release"
                    ? release(state, lim, id, clock)
                    : cancel(state, lim, id, clock);
              expect(end(durable)).toEqual(end(reference));
              break;
            }
            case "tick":
              clock = Math.max(0, clock + o.dt);
              break;
            case "advance":
              expect(advance(durable, lim, clock)).toEqual(advance(reference, lim, clock));
              break;
            case "snapshot":
              expect(snapshot(durable, lim, clock)).toEqual(snapshot(reference, lim, clock));
              break;
          }
          if (then !== "nothing") {
            store.persist(durable);
            const stored = store.load();
            expect(contents(stored)).toEqual(contents(durable));
            if (then === "restart") durable = stored;
          }
          expect(contents(durable)).toEqual(contents(reference));
        }
        store.persist(durable);
        expectSameAsStored(reference, store);
      }),
      { numRuns: 400 },
    );
  });
});
