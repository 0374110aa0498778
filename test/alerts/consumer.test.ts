import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { consumeAlerts, MAX_RETRY_DELAY_SECONDS, retryDelaySeconds, WEBHOOK_TIMEOUT_MS } from "../../src/alerts/consumer";
import type { AlertEvent } from "../../src/alerts/event";
import { slackMessage } from "../../src/alerts/format";
import { SIGNATURE_HEADER, verify } from "../../src/alerts/signature";
import { keyObject } from "../../src/stubs";
import { chat, createKey } from "../helpers/gateway";
import { alertEvent, uniqueId } from "./events";
import { alertEnv, fakeBatch, fakeMessage, fakeOwners, jsonLines } from "./fakes";

const HOOK = "http://hooks.test/edgequota";
const SECRET = "whsec_consumer_test";

/** What the fake webhook received, and what it answers next (a status, or a thrown error). */
let received: Request[];
let answer: (request: Request) => Response | Promise<Response>;
let fetchSpy: MockInstance<typeof fetch>;
let logSpy: MockInstance<typeof console.log>;
let warnSpy: MockInstance<typeof console.warn>;
let errorSpy: MockInstance<typeof console.error>;

beforeEach(() => {
  received = [];
  answer = () => new Response("ok");
  fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    received.push(request);
    return answer(request);
  });
  logSpy = vi.spyOn(console, "log").mockImplementation(() => undefined);
  warnSpy = vi.spyOn(console, "warn").mockImplementation(() => undefined);
  errorSpy = vi.spyOn(console, "error").mockImplementation(() => undefined);
});

afterEach(() => {
  vi.restoreAllMocks();
});

const signed = { ALERT_WEBHOOK_URL: HOOK, ALERT_WEBHOOK_SECRET: SECRET };
const keyEvent = (overrides: Partial<AlertEvent> = {}) => alertEvent({ id: uniqueId("key"), ...overrides });

describe("a webhook that accepts (2xx)", () => {
  it("gets the event as signed JSON with its id and type in headers; the message and the owner are acknowledged", async () => {
    const owners = fakeOwners();
    const event = keyEvent();
    const message = fakeMessage(event);
    await consumeAlerts(fakeBatch("edgequota-alerts", [message]), alertEnv(owners, signed));

    expect(received).toHaveLength(1);
    const request = received[0]!;
    expect(request.method).toBe("POST");
    expect(request.url).toBe(HOOK);
    expect(request.headers.get("content-type")).toBe("application/json");
    expect(request.headers.get("x-edgequota-event-id")).toBe(event.id);
    expect(request.headers.get("x-edgequota-event-type")).toBe("budget_threshold");
    const body = await request.text();
    expect(JSON.parse(body)).toEqual(event);
    const signature = request.headers.get(SIGNATURE_HEADER)!;
    expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(await verify(signature, body, SECRET, Math.floor(Date.now() / 1000))).toBe(true);
    expect(await verify(signature, body, "another secret", Math.floor(Date.now() / 1000))).toBe(false);

    expect(message.ack).toHaveBeenCalledTimes(1);
    expect(message.retry).not.toHaveBeenCalled();
    expect(owners.acks).toEqual([{ namespace: "KEYS", name: event.owner.id, id: event.id }]);
  });

  it("tells each kind of owner through its own object", async () => {
    const owners = fakeOwners();
    const events = [
      keyEvent({ owner: { kind: "team", id: "team-1", alias: null, team_id: "team-1" } }),
      keyEvent({ owner: { kind: "end_user", id: "user-1", alias: null, team_id: null } }),
      keyEvent({ type: "deployment_cooldown", owner: { kind: "deployment", id: "pool-a", alias: null, team_id: null }, figures: {} }),
    ];
    await consumeAlerts(fakeBatch("edgequota-alerts", events.map((event) => fakeMessage(event))), alertEnv(owners, signed));
    expect(owners.acks).toEqual(
      expect.arrayContaining([
        { namespace: "TEAMS", name: "team-1", id: events[0]!.id },
        { namespace: "END_USERS", name: "user-1", id: events[1]!.id },
        { namespace: "DEPLOYMENTS_LIMITS", name: "pool-a", id: events[2]!.id },
      ]),
    );
    expect(owners.acks).toHaveLength(3);
  });

  it("acknowledges the message even when the owner cannot be told (it re-sends; receivers de-duplicate)", async () => {
    const owners = fakeOwners(true);
    const message = fakeMessage(keyEvent());
    await consumeAlerts(fakeBatch("edgequota-alerts", [message]), alertEnv(owners, signed));
    expect(owners.acks).toHaveLength(1);
    expect(message.ack).toHaveBeenCalledTimes(1);
    expect(message.retry).not.toHaveBeenCalled();
  });

  it("posts a Slack message with ALERT_FORMAT=slack, signed over the bytes sent", async () => {
    const owners = fakeOwners();
    const event = keyEvent();
    const message = fakeMessage(event);
    await consumeAlerts(fakeBatch("edgequota-alerts", [message]), alertEnv(owners, { ...signed, ALERT_FORMAT: "slack" }));
    const body = await received[0]!.text();
    expect(JSON.parse(body)).toEqual(slackMessage(event));
    expect(JSON.parse(body).text).toContain("Key 'demo-app' crossed 80% of its $10.00 budget (spent $8.12; resets 2026-12-01T00:00:00Z)");
    expect(JSON.parse(body).text).toContain(event.id);
    expect(received[0]!.headers.get("x-edgequota-event-id")).toBe(event.id);
    expect(await verify(received[0]!.headers.get(SIGNATURE_HEADER)!, body, SECRET, Math.floor(Date.now() / 1000))).toBe(true);
    expect(message.ack).toHaveBeenCalledTimes(1);
  });

  it("posts unsigned without ALERT_WEBHOOK_SECRET, warning once per isolate", async () => {
    const owners = fakeOwners();
    for (let round = 0; round < 2; round++) {
      const message = fakeMessage(keyEvent());
      await consumeAlerts(fakeBatch("edgequota-alerts", [message]), alertEnv(owners, { ALERT_WEBHOOK_URL: HOOK }));
      expect(message.ack).toHaveBeenCalledTimes(1);
    }
    expect(received.map((request) => request.headers.has(SIGNATURE_HEADER))).toEqual([false, false]);
    const warnings = jsonLines(warnSpy).filter((line) => /ALERT_WEBHOOK_SECRET/.test(line.message));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.level).toBe("warn");
  });
});

describe("a webhook that refuses", () => {
  it("answers 500: the message is retried with a growing delay, and the owner is not told", async () => {
    const owners = fakeOwners();
    answer = () => new Response("down", { status: 500 });
    const event = keyEvent();
    const delays: number[] = [];
    for (const attempts of [1, 2, 3, 4, 5, 6]) {
      const message = fakeMessage(event, attempts);
      await consumeAlerts(fakeBatch("edgequota-alerts", [message]), alertEnv(owners, signed));
      expect(message.ack).not.toHaveBeenCalled();
      expect(message.retry).toHaveBeenCalledTimes(1);
      delays.push(message.retry.mock.calls[0]![0]!.delaySeconds!);
    }
    expect(delays).toEqual([2, 4, 8, 16, 32, 64]);
    expect(owners.acks).toEqual([]);
    const line = jsonLines(warnSpy).find((entry) => entry.id === event.id)!;
    expect(line).toMatchObject({ level: "warn", reason: "HTTP 500", attempt: 1, retry_in_seconds: 2 });
  });

  it("backs off at most MAX_RETRY_DELAY_SECONDS, and by ALERT_RETRY_BASE_SECONDS (0: at once)", async () => {
    expect(retryDelaySeconds(20, 2)).toBe(MAX_RETRY_DELAY_SECONDS);
    expect(retryDelaySeconds(1, 10)).toBe(10);
    expect(retryDelaySeconds(3, 10)).toBe(40);
    const owners = fakeOwners();
    answer = () => new Response(null, { status: 503 });
    const message = fakeMessage(keyEvent(), 4);
    await consumeAlerts(fakeBatch("edgequota-alerts", [message]), alertEnv(owners, { ...signed, ALERT_RETRY_BASE_SECONDS: "0" }));
    expect(message.retry).toHaveBeenCalledWith({ delaySeconds: 0 });
  });

  it("waits for a Retry-After longer than its backoff (up to the cap)", async () => {
    const owners = fakeOwners();
    answer = () => new Response(null, { status: 429, headers: { "retry-after": "120" } });
    const message = fakeMessage(keyEvent());
    await consumeAlerts(fakeBatch("edgequota-alerts", [message]), alertEnv(owners, signed));
    expect(message.retry).toHaveBeenCalledWith({ delaySeconds: 120 });
    answer = () => new Response(null, { status: 429, headers: { "retry-after": "86400" } });
    const later = fakeMessage(keyEvent());
    await consumeAlerts(fakeBatch("edgequota-alerts", [later]), alertEnv(owners, signed));
    expect(later.retry).toHaveBeenCalledWith({ delaySeconds: MAX_RETRY_DELAY_SECONDS });
  });

  it("redirects (3xx): not followed, retried (a followed POST would arrive as a bodiless GET)", async () => {
    const owners = fakeOwners();
    answer = () => new Response(null, { status: 302, headers: { location: "http://elsewhere.test/" } });
    const message = fakeMessage(keyEvent());
    await consumeAlerts(fakeBatch("edgequota-alerts", [message]), alertEnv(owners, signed));
    expect(received).toHaveLength(1);
    expect(received[0]!.redirect).toBe("manual");
    expect(message.retry).toHaveBeenCalledTimes(1);
    expect(message.ack).not.toHaveBeenCalled();
    expect(owners.acks).toEqual([]);
  });

  it("cannot be reached or does not answer in time: retried, with a timeout on every request", async () => {
    const owners = fakeOwners();
    answer = (request) => {
      expect(request.signal).toBeInstanceOf(AbortSignal);
      throw new DOMException("The operation was aborted due to timeout", "TimeoutError");
    };
    const message = fakeMessage(keyEvent());
    await consumeAlerts(fakeBatch("edgequota-alerts", [message]), alertEnv(owners, signed));
    expect(message.retry).toHaveBeenCalledWith({ delaySeconds: 2 });
    expect(jsonLines(warnSpy).at(-1)!.reason).toBe(`no answer within ${WEBHOOK_TIMEOUT_MS / 1000} s`);
    answer = () => {
      throw new TypeError("connection refused");
    };
    const again = fakeMessage(keyEvent(), 2);
    await consumeAlerts(fakeBatch("edgequota-alerts", [again]), alertEnv(owners, signed));
    expect(again.retry).toHaveBeenCalledWith({ delaySeconds: 4 });
    expect(owners.acks).toEqual([]);
  });

  it("handles each message of a batch on its own", async () => {
    const owners = fakeOwners();
    const good = keyEvent();
    const bad = keyEvent();
    answer = (request) => new Response(null, { status: request.headers.get("x-edgequota-event-id") === good.id ? 204 : 500 });
    const [first, second] = [fakeMessage(good), fakeMessage(bad)];
    await consumeAlerts(fakeBatch("edgequota-alerts", [first, second]), alertEnv(owners, signed));
    expect(first.ack).toHaveBeenCalledTimes(1);
    expect(first.retry).not.toHaveBeenCalled();
    expect(second.retry).toHaveBeenCalledTimes(1);
    expect(second.ack).not.toHaveBeenCalled();
    expect(owners.acks.map((ack) => ack.id)).toEqual([good.id]);
  });
});

describe("messages that are not events, and no webhook", () => {
  it("an invalid body is acknowledged without a request, and logged as an error", async () => {
    const owners = fakeOwners();
    const messages = [fakeMessage({ hello: "world" }), fakeMessage("text"), fakeMessage({ ...keyEvent(), type: "nope" }), fakeMessage(null)];
    await consumeAlerts(fakeBatch("edgequota-alerts", messages), alertEnv(owners, signed));
    expect(fetchSpy).not.toHaveBeenCalled();
    for (const message of messages) {
      expect(message.ack).toHaveBeenCalledTimes(1);
      expect(message.retry).not.toHaveBeenCalled();
    }
    const errors = jsonLines(errorSpy).filter((line) => line.message.startsWith("invalid alert message"));
    expect(errors.map((line) => line.message_id)).toEqual(messages.map((message) => message.id));
    expect(errors[2]!.issues.join()).toMatch(/^type: /);
    expect(owners.acks).toEqual([]);
  });

  it("without ALERT_WEBHOOK_URL, each event is logged as one JSON line and counts as delivered", async () => {
    const owners = fakeOwners();
    const event = keyEvent();
    const message = fakeMessage(event);
    await consumeAlerts(fakeBatch("edgequota-alerts", [message]), alertEnv(owners, { ALERT_WEBHOOK_URL: undefined }));
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(message.ack).toHaveBeenCalledTimes(1);
    expect(owners.acks).toEqual([{ namespace: "KEYS", name: event.owner.id, id: event.id }]);
    const line = jsonLines(logSpy).find((entry) => entry.event?.id === event.id)!;
    expect(line).toMatchObject({ level: "info", event, summary: "Key 'demo-app' crossed 80% of its $10.00 budget (spent $8.12; resets 2026-12-01T00:00:00Z)" });
  });

  it("an invalid configuration delivers nothing: every message is retried, none lost", async () => {
    const owners = fakeOwners();
    const message = fakeMessage(keyEvent());
    await consumeAlerts(fakeBatch("edgequota-alerts", [message]), alertEnv(owners, { ...signed, ALERT_FORMAT: "teams" }));
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(message.retry).toHaveBeenCalledTimes(1);
    expect(message.ack).not.toHaveBeenCalled();
    expect(jsonLines(errorSpy).at(-1)!.error).toMatch(/ALERT_FORMAT/);
  });
});

describe("the queue itself (Miniflare, as under npm run dev)", () => {
  it("carries a real key's alert from its object to the Worker's consumer, which acknowledges it at the key", async () => {
    fetchSpy.mockRestore(); // the chat goes to the embedded mock
    const key = await createKey({ soft_budget: 0.000001 });
    expect((await chat(key.key)).status).toBe(200);
    // The test Worker has no ALERT_WEBHOOK_URL: its consumer tells the owner, then logs the event.
    let line: Record<string, any> | undefined;
    await vi.waitFor(
      () => {
        line = jsonLines(logSpy).find((entry) => entry.event?.owner?.id === key.token && entry.event.type === "soft_budget_crossed");
        expect(line).toBeDefined();
      },
      { timeout: 15_000, interval: 100 },
    );
    expect(line!.summary).toMatch(/^Key [0-9a-f]{12}… crossed its soft budget of \$0\.000001 \(spent \$/);
    // Already acknowledged by the consumer: no longer in the key's outbox.
    expect(await keyObject(env, key.token).ackAlert(line!.event.id)).toBe(false);
  });


  it("delivers what is sent to env.ALERTS to the Worker's consumer", async () => {
    expect(env.ALERTS).toBeDefined();
    const event = keyEvent({ owner: { kind: "deployment", id: `queue-${crypto.randomUUID()}`, alias: null, team_id: null }, type: "deployment_cooldown", figures: {} });
    await env.ALERTS!.send(event);
    // The test Worker has no ALERT_WEBHOOK_URL: its consumer logs the event.
    await vi.waitFor(() => expect(jsonLines(logSpy).some((line) => line.event?.id === event.id)).toBe(true), { timeout: 15_000, interval: 100 });
  });
});
