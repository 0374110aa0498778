import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { ALERT_DEAD_LETTER_QUEUE, consumeDeadAlerts } from "../../src/alerts/consumer";
import type { AlertEvent } from "../../src/alerts/event";
import worker from "../../src/index";
import { deadLettersSchema } from "../../src/schemas/alerts";
import { call, createKey, json } from "../helpers/gateway";
import { callWith } from "../helpers/with-env";
import { alertEvent, uniqueId } from "./events";
import { alertEnv, fakeBatch, fakeMessage, fakeOwners, jsonLines } from "./fakes";

type DeadLetterList = Array<{ id: string; type: string; owner: { kind: string; id: string }; count: number; first_at: string; last_at: string; event: AlertEvent }>;

let errorSpy: MockInstance<typeof console.error>;

beforeEach(() => {
  vi.spyOn(console, "log").mockImplementation(() => undefined);
  vi.spyOn(console, "warn").mockImplementation(() => undefined);
  errorSpy = vi.spyOn(console, "error").mockImplementation(() => undefined);
});

afterEach(() => {
  vi.restoreAllMocks();
});

async function deadLetters(query = "?limit=1000"): Promise<DeadLetterList> {
  const response = await call(`/alerts/dead-letters${query}`);
  expect(response.status).toBe(200);
  return json<DeadLetterList>(response);
}

/** Lets the clock move on, so rows written next have a later time. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe("the dead-letter consumer", () => {
  it("keeps each event in the directory, acknowledges its owner (delivery given up) and the message", async () => {
    const owners = fakeOwners();
    const event = alertEvent({ id: uniqueId("dead") });
    const message = fakeMessage(event, 1);
    const before = new Date().toISOString();
    await consumeDeadAlerts(fakeBatch(ALERT_DEAD_LETTER_QUEUE, [message]), alertEnv(owners));

    expect(message.ack).toHaveBeenCalledTimes(1);
    expect(message.retry).not.toHaveBeenCalled();
    expect(owners.acks).toEqual([{ namespace: "KEYS", name: event.owner.id, id: event.id }]);
    expect(jsonLines(errorSpy).find((line) => line.id === event.id)).toMatchObject({ level: "error", type: event.type });

    const row = (await deadLetters()).find((entry) => entry.id === event.id)!;
    expect(row).toEqual({ id: event.id, type: event.type, owner: { kind: "key", id: event.owner.id }, count: 1, first_at: row.first_at, last_at: row.first_at, event });
    expect(row.first_at >= before).toBe(true);
  });

  it("counts the same event dead-lettered again once more, keeping its first time", async () => {
    const owners = fakeOwners();
    const event = alertEvent({ id: uniqueId("again") });
    await consumeDeadAlerts(fakeBatch(ALERT_DEAD_LETTER_QUEUE, [fakeMessage(event)]), alertEnv(owners));
    await tick();
    await consumeDeadAlerts(fakeBatch(ALERT_DEAD_LETTER_QUEUE, [fakeMessage(event)]), alertEnv(owners));
    const row = (await deadLetters()).find((entry) => entry.id === event.id)!;
    expect(row.count).toBe(2);
    expect(row.last_at > row.first_at).toBe(true);
    expect(owners.acks).toHaveLength(2);
  });

  it("still acknowledges the message when the owner cannot be told", async () => {
    const owners = fakeOwners(true);
    const event = alertEvent({ id: uniqueId("orphan") });
    const message = fakeMessage(event);
    await consumeDeadAlerts(fakeBatch(ALERT_DEAD_LETTER_QUEUE, [message]), alertEnv(owners));
    expect(message.ack).toHaveBeenCalledTimes(1);
    expect((await deadLetters()).some((entry) => entry.id === event.id)).toBe(true);
  });

  it("retries when the directory cannot be reached (nothing is dropped), and does not tell the owner yet", async () => {
    const owners = fakeOwners();
    const unreachable = { idFromName: (name: string) => name, get: () => ({ putDeadAlert: async () => { throw new Error("directory down"); } }) };
    const message = fakeMessage(alertEvent({ id: uniqueId("retry") }), 1);
    await consumeDeadAlerts(fakeBatch(ALERT_DEAD_LETTER_QUEUE, [message]), { ...alertEnv(owners), DIRECTORY: unreachable as unknown as DurableObjectNamespace });
    expect(message.retry).toHaveBeenCalledTimes(1);
    expect(message.ack).not.toHaveBeenCalled();
    expect(owners.acks).toEqual([]);
  });

  it("acknowledges an invalid body without storing it", async () => {
    const owners = fakeOwners();
    const message = fakeMessage({ id: "not-an-event" });
    await consumeDeadAlerts(fakeBatch(ALERT_DEAD_LETTER_QUEUE, [message]), alertEnv(owners));
    expect(message.ack).toHaveBeenCalledTimes(1);
    expect((await deadLetters()).some((entry) => entry.id === "not-an-event")).toBe(false);
  });
});

describe("the Worker's queue handler", () => {
  it("sends the dead-letter queue's batches to the dead-letter consumer, and the alert queue's to the webhook consumer", async () => {
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response("ok"));
    const owners = fakeOwners();
    const dead = alertEvent({ id: uniqueId("dispatch-dead") });
    const live = alertEvent({ id: uniqueId("dispatch-live") });
    const [deadMessage, liveMessage] = [fakeMessage(dead), fakeMessage(live)];
    const vars = alertEnv(owners, { ALERT_WEBHOOK_URL: "http://hooks.test/x", ALERT_WEBHOOK_SECRET: "s" });
    await worker.queue(fakeBatch(ALERT_DEAD_LETTER_QUEUE, [deadMessage]), vars);
    await worker.queue(fakeBatch("edgequota-alerts", [liveMessage]), vars);
    expect(fetchSpy).toHaveBeenCalledTimes(1);
    expect(new Headers(fetchSpy.mock.calls[0]![1]!.headers).get("x-edgequota-event-id")).toBe(live.id);
    expect(deadMessage.ack).toHaveBeenCalledTimes(1);
    expect(liveMessage.ack).toHaveBeenCalledTimes(1);
    const ids = (await deadLetters()).map((entry) => entry.id);
    expect(ids).toContain(dead.id);
    expect(ids).not.toContain(live.id);
  });
});

describe("GET /alerts/dead-letters", () => {
  it("lists newest first, ?limit= of them, with the total kept in x-total-count; its answers match the schema", async () => {
    const owners = fakeOwners();
    const ids: string[] = [];
    for (let index = 0; index < 3; index++) {
      const event = alertEvent({ id: uniqueId(`order-${index}`), type: index === 1 ? "budget_exceeded" : "budget_threshold" });
      ids.push(event.id);
      await consumeDeadAlerts(fakeBatch(ALERT_DEAD_LETTER_QUEUE, [fakeMessage(event)]), alertEnv(owners));
      await tick();
    }
    const response = await call("/alerts/dead-letters?limit=2");
    expect(response.status).toBe(200);
    const page = await json<DeadLetterList>(response);
    expect(page.map((entry) => entry.id)).toEqual([ids[2], ids[1]]);
    expect(Number(response.headers.get("x-total-count"))).toBeGreaterThanOrEqual(3);
    expect(deadLettersSchema.safeParse(page).success).toBe(true);
    const all = await deadLetters();
    expect(all.filter((entry) => ids.includes(entry.id)).map((entry) => entry.id)).toEqual([...ids].reverse());
    expect(deadLettersSchema.safeParse(all).success).toBe(true);
    expect((await deadLetters("")).length).toBeLessThanOrEqual(100);
  });

  it("needs the master key: 401 without or with a wrong one, 403 for a virtual key", async () => {
    expect((await call("/alerts/dead-letters", { token: null })).status).toBe(401);
    expect((await call("/alerts/dead-letters", { token: "sk-wrong" })).status).toBe(401);
    const key = await createKey();
    const refused = await call("/alerts/dead-letters", { token: key.key });
    expect(refused.status).toBe(403);
    expect((await json(refused)).error.type).toBe("permission_error");
  });

  it("refuses a bad limit or an unknown parameter with 400", async () => {
    for (const query of ["?limit=0", "?limit=1001", "?limit=abc", "?page=2"]) {
      expect((await call(`/alerts/dead-letters${query}`)).status, query).toBe(400);
    }
  });

  it("is hidden like the rest of the management API", async () => {
    const headers = { authorization: "Bearer sk-test-master" };
    expect((await callWith({ MANAGEMENT_API: "off" }, "/alerts/dead-letters", { headers })).status).toBe(404);
    expect((await callWith({ MANAGEMENT_HOSTNAMES: "admin.internal" }, "/alerts/dead-letters", { headers })).status).toBe(404);
    expect((await callWith({ MANAGEMENT_HOSTNAMES: "gateway.test" }, "/alerts/dead-letters", { headers })).status).toBe(200);
    expect(env.DIRECTORY).toBeDefined();
  });
});
