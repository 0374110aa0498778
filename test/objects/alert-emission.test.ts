import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AlertEvent } from "../../src/alerts/event";
import { newBudget, parsePeriod, type BudgetLimit } from "../../src/limiter";
import { AlertOutbox, MAX_PENDING_ALERTS } from "../../src/objects/alert-outbox";
import { BudgetAlerts, type AlertOwner } from "../../src/objects/budget-alerts";
import { unique } from "../helpers/key-routes";
import { keyStub } from "../helpers/objects";

// When an owner's alerts happen, exactly once each, and how its outbox keeps them until delivery is acknowledged.
// Driven on a real Durable Object's storage (an object with no key in it), with a fake queue.

const OWNER: AlertOwner = { kind: "key", id: "token-abc", alias: "demo", team_id: "team-1" };
const LIMIT: BudgetLimit = { max: 10_000_000_000, soft: 6_000_000_000, period: parsePeriod("1d") };
const T0 = Date.UTC(2026, 10, 29, 12);

async function withAlerts<T>(run: (parts: { alerts: BudgetAlerts; outbox: AlertOutbox; sent: AlertEvent[]; storage: DurableObjectStorage }) => T | Promise<T>, send?: (event: AlertEvent) => Promise<void>): Promise<T> {
  return runInDurableObject(keyStub(unique("alerts")), async (_instance, state) => {
    const sent: AlertEvent[] = [];
    const outbox = new AlertOutbox(state.storage, send ?? (async (event) => void sent.push(event)), 60_000, () => {});
    return run({ alerts: new BudgetAlerts(state.storage, outbox), outbox, sent, storage: state.storage });
  });
}

const budgetAt = (spendUsd: number, resetAt: number | null) => ({ ...newBudget(LIMIT, T0), spend: spendUsd * 1e9, resetAt });
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("budget alerts", () => {
  it("announce each threshold of max_budget and the soft budget once per budget period, with stable ids", async () => {
    await withAlerts(async ({ alerts, sent }) => {
      alerts.checkBudget(OWNER, budgetAt(4, T0 + 1000), LIMIT, [0.5, 0.8], T0);
      alerts.checkBudget(OWNER, budgetAt(5.5, T0 + 1000), LIMIT, [0.5, 0.8], T0 + 1);
      alerts.checkBudget(OWNER, budgetAt(9, T0 + 1000), LIMIT, [0.5, 0.8], T0 + 2);
      alerts.checkBudget(OWNER, budgetAt(9.5, T0 + 1000), LIMIT, [0.5, 0.8], T0 + 3);
      await settle();
      expect(sent.map((event) => [event.type, event.figures.threshold ?? null])).toEqual([
        ["budget_threshold", 0.5],
        ["soft_budget_crossed", null],
        ["budget_threshold", 0.8],
      ]);
      expect(sent[0]!.id).toBe(`key:token-abc:budget_threshold:0.5:${T0 + 1000}`);
      expect(sent[0]).toMatchObject({ owner: OWNER, figures: { spend: 5.5, max_budget: 10, soft_budget: 6 } });
      expect(sent[0]!.figures.budget_reset_at).toBe(new Date(T0 + 1000).toISOString());
    });
  });

  it("announce a budget reset, after which the thresholds can be crossed again", async () => {
    await withAlerts(async ({ alerts, sent }) => {
      alerts.checkBudget(OWNER, budgetAt(6, T0 + 1000), LIMIT, [0.5], T0);
      alerts.checkBudget(OWNER, budgetAt(0, T0 + 2000), LIMIT, [0.5], T0 + 1000);
      alerts.checkBudget(OWNER, budgetAt(5, T0 + 2000), LIMIT, [0.5], T0 + 1500);
      await settle();
      expect(sent.map((event) => event.type)).toEqual(["soft_budget_crossed", "budget_threshold", "budget_reset", "budget_threshold"]);
      expect(sent[2]!.id).toBe(`key:token-abc:budget_reset:${T0 + 1000}`);
      expect(new Set(sent.map((event) => event.id)).size).toBe(4);
    });
  });

  it("announce the first budget refusal of a period only", async () => {
    await withAlerts(async ({ alerts, sent }) => {
      for (let i = 0; i < 3; i++) alerts.budgetExceeded(OWNER, budgetAt(10, T0 + 1000), LIMIT, T0 + i);
      alerts.budgetExceeded(OWNER, budgetAt(10, T0 + 5000), LIMIT, T0 + 4000);
      await settle();
      expect(sent.map((event) => event.id)).toEqual([`key:token-abc:budget_exceeded:${T0 + 1000}`, `key:token-abc:budget_exceeded:${T0 + 5000}`]);
    });
  });

  it("remember what was announced across a restart of the object (state in storage)", async () => {
    await withAlerts(async ({ alerts, outbox, sent, storage }) => {
      alerts.checkBudget(OWNER, budgetAt(9, T0 + 1000), LIMIT, [0.5], T0);
      const again = new BudgetAlerts(storage, outbox);
      again.checkBudget(OWNER, budgetAt(9.5, T0 + 1000), LIMIT, [0.5], T0 + 1);
      await settle();
      expect(sent.filter((event) => event.type === "budget_threshold")).toHaveLength(1);
    });
  });
});

describe("the alert outbox", () => {
  const event = (id: string): AlertEvent => ({ id, type: "key_blocked", at: new Date(T0).toISOString(), owner: OWNER, figures: {} });

  it("keeps an event until it is acknowledged, re-sending it when unacknowledged for too long", async () => {
    await withAlerts(async ({ outbox, sent }) => {
      expect(outbox.emit(event("e1"), T0)).toBe(true);
      expect(outbox.emit(event("e1"), T0)).toBe(false);
      await settle();
      expect(sent.map((sentEvent) => sentEvent.id)).toEqual(["e1"]);
      expect(outbox.nextWakeAt(T0)).toBe(T0 + 60_000);
      outbox.resendDue(T0 + 59_999);
      await settle();
      expect(sent).toHaveLength(1);
      outbox.resendDue(T0 + 60_000);
      await settle();
      expect(sent.map((sentEvent) => sentEvent.id)).toEqual(["e1", "e1"]);
      expect(outbox.ack("e1")).toBe(true);
      expect(outbox.size()).toBe(0);
      expect(outbox.nextWakeAt(T0)).toBeNull();
    });
  });

  it("retries an event the queue refused, at the next wake-up", async () => {
    let fail = true;
    const delivered: string[] = [];
    await withAlerts(async ({ outbox }) => {
      outbox.emit(event("e2"), T0);
      await settle();
      expect(outbox.nextWakeAt(T0)).toBe(T0 + 5_000);
      fail = false;
      outbox.resendDue(T0 + 5_000);
      await settle();
      expect(delivered).toEqual(["e2"]);
    }, async (sentEvent) => {
      if (fail) throw new Error("queue down");
      delivered.push(sentEvent.id);
    });
  });

  it("stays bounded when delivery is down: the oldest pending events are dropped", async () => {
    await withAlerts(async ({ outbox }) => {
      for (let i = 0; i < MAX_PENDING_ALERTS + 5; i++) outbox.emit({ ...event(`bulk-${i}`), at: new Date(T0 + i).toISOString() }, T0 + i);
      expect(outbox.size()).toBe(MAX_PENDING_ALERTS);
    }, () => new Promise(() => {}));
  });

  it("records nothing when no queue is bound (alerts off)", async () => {
    await runInDurableObject(keyStub(unique("no-queue")), async (_instance, state) => {
      const outbox = new AlertOutbox(state.storage, null, 60_000, () => {});
      expect(outbox.emit(event("e3"), T0)).toBe(false);
      expect(outbox.size()).toBe(0);
    });
  });
});
