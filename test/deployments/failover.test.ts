import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { deploymentStub } from "../helpers/objects";
import { chat, createKey, json, settled } from "../helpers/gateway";
import { callWith } from "../helpers/with-env";

const MODEL = "failover-model";
const FAILOVER = ["failover-a", "failover-b", "failover-c"] as const;
/** A deployment of another group the bounded-attempts test borrows (its object exists in the shared config). */
const BORROWED = ["shared-1"] as const;
type DeploymentId = (typeof FAILOVER)[number] | (typeof BORROWED)[number];
/** Default DEPLOYMENT_COOLDOWN_MS. */
const DEFAULT_COOLDOWN_MS = 5_000;

const stub = (id: DeploymentId) => deploymentStub(id);

interface Seen {
  host: string;
  url: string;
  authorization: string | null;
  model: unknown;
  headers: string;
}

type Answer = (body: Record<string, unknown>) => Response | Promise<Response>;

const completion: Answer = (body) =>
  Response.json({
    id: "chatcmpl-spy", object: "chat.completion", created: 0, model: body.model,
    choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  });

const failing = (status: number, message = `failure ${status}`, headers: Record<string, string> = {}): Answer =>
  () => Response.json({ error: { message, type: "upstream", code: null } }, { status, headers });

const refused: Answer = () => {
  throw new TypeError("Network connection lost: connection refused");
};

/** Answers the deployments' hosts (by first label, e.g. "failover-a"); every call it sees is recorded. */
function upstreams(answers: Record<string, Answer> = {}): Seen[] {
  const seen: Seen[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input as RequestInfo, init);
    const url = new URL(request.url);
    const body = (await request.clone().json()) as Record<string, unknown>;
    const host = url.hostname.split(".")[0]!;
    seen.push({ host, url: request.url, authorization: request.headers.get("authorization"), model: body.model, headers: JSON.stringify([...request.headers]) });
    return (answers[host] ?? completion)(body);
  });
  return seen;
}

interface DeploymentState {
  inFlight: number;
  tokens: number;
  requests: number;
  /** ms until it takes calls again; 0 when it is not resting. */
  coolingMs: number;
}

function deployment(id: DeploymentId): Promise<DeploymentState> {
  return runInDurableObject(stub(id), (instance) => {
    const view = instance.view();
    const inner = instance as unknown as { cooldownUntil: number; now(): number };
    return {
      inFlight: view?.snapshot.inFlight ?? 0,
      tokens: view?.snapshot.window.tokens ?? 0,
      requests: view?.snapshot.window.requests ?? 0,
      coolingMs: Math.max(0, inner.cooldownUntil - inner.now()),
    };
  });
}

async function shiftClock(id: DeploymentId, ms: number): Promise<void> {
  await runInDurableObject(stub(id), (instance) => {
    instance.clockOffsetMs += ms;
  });
}

/** Settlement runs after the response: wait until none of these deployments holds a reservation. */
async function drained(ids: readonly DeploymentId[]): Promise<void> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const states = await Promise.all(ids.map(deployment));
    if (states.every((state) => state.inFlight === 0)) return;
    if (Date.now() > deadline) throw new Error(`still in flight: ${JSON.stringify(states)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Each test starts with every deployment rested and an empty window. */
afterEach(async () => {
  vi.restoreAllMocks();
  for (const id of [...FAILOVER, ...BORROWED]) await shiftClock(id, 120_000);
});

const send = (key: string) => chat(key, { model: MODEL, max_tokens: 2 });

describe("fail-over between the deployments of a model group", () => {
  it("an upstream 429 moves the call to the next deployment, which answers; the failed one rests for its retry-after", async () => {
    const key = await createKey();
    const seen = upstreams({ "failover-a": failing(429, "slow down", { "retry-after": "2" }) });
    const response = await send(key.key);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-litellm-model-id")).toBe("failover-b");
    const body = await json(response);
    expect(body.model).toBe("upstream-b");
    expect(seen.map((call) => call.host)).toEqual(["failover-a", "failover-b"]);

    // The 429 consumed nothing at failover-a; the call's usage is booked at failover-b and at the key.
    const info = await settled(key.key);
    expect(info.usage).toMatchObject({ requests: 1, tokens: 7, in_flight: 0, reserved_tokens: 0 });
    await drained(FAILOVER);
    expect(await deployment("failover-a")).toMatchObject({ inFlight: 0, tokens: 0 });
    expect(await deployment("failover-b")).toMatchObject({ inFlight: 0, tokens: 7, requests: 1 });
    const resting = (await deployment("failover-a")).coolingMs;
    expect(resting).toBeGreaterThan(1_500);
    expect(resting).toBeLessThanOrEqual(2_000);

    // While it rests, the next call does not even try it.
    const next = await send(key.key);
    expect(next.status).toBe(200);
    expect(next.headers.get("x-litellm-model-id")).toBe("failover-b");
    expect(seen.map((call) => call.host)).toEqual(["failover-a", "failover-b", "failover-b"]);

    // Once its retry-after has passed it is tried first again (and, still answering 429, is failed over again).
    await shiftClock("failover-a", 2_001);
    const rested = await send(key.key);
    expect(rested.status).toBe(200);
    expect(seen.map((call) => call.host)).toEqual(["failover-a", "failover-b", "failover-b", "failover-a", "failover-b"]);
    expect((await settled(key.key)).usage).toMatchObject({ requests: 3, tokens: 21, in_flight: 0 });
    await drained(FAILOVER);
  });

  it("an upstream 5xx moves the call on and rests the deployment for DEPLOYMENT_COOLDOWN_MS", async () => {
    const key = await createKey();
    const seen = upstreams({ "failover-a": failing(503, "overloaded") });
    const response = await send(key.key);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-litellm-model-id")).toBe("failover-b");
    expect(seen.map((call) => call.host)).toEqual(["failover-a", "failover-b"]);
    const resting = (await deployment("failover-a")).coolingMs;
    expect(resting).toBeGreaterThan(DEFAULT_COOLDOWN_MS - 500);
    expect(resting).toBeLessThanOrEqual(DEFAULT_COOLDOWN_MS);
    const next = await send(key.key);
    expect(next.status).toBe(200);
    expect(seen.filter((call) => call.host === "failover-a")).toHaveLength(1);
    expect((await settled(key.key)).usage).toMatchObject({ requests: 2, in_flight: 0, reserved_tokens: 0 });
    await drained(FAILOVER);
  });

  it("a refused connection moves the call on and rests the deployment", async () => {
    const key = await createKey();
    const seen = upstreams({ "failover-a": refused });
    const response = await send(key.key);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-litellm-model-id")).toBe("failover-b");
    expect(seen.map((call) => call.host)).toEqual(["failover-a", "failover-b"]);
    expect((await deployment("failover-a")).coolingMs).toBeGreaterThan(0);
    const next = await send(key.key);
    expect(next.status).toBe(200);
    expect(seen.map((call) => call.host)).toEqual(["failover-a", "failover-b", "failover-b"]);
    expect((await settled(key.key)).usage).toMatchObject({ requests: 2, tokens: 14, in_flight: 0 });
    await drained(FAILOVER);
    expect(await deployment("failover-a")).toMatchObject({ inFlight: 0, tokens: 0 });
  });

  it("each deployment is sent its own URL, API key and model name, never the client's key", async () => {
    const key = await createKey();
    const seen = upstreams({ "failover-a": failing(500), "failover-b": failing(502) });
    const response = await send(key.key);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-litellm-model-id")).toBe("failover-c");
    expect((await json(response)).model).toBe("upstream-c");
    expect(seen.map(({ url, authorization, model }) => ({ url, authorization, model }))).toEqual([
      { url: "http://failover-a.test/v1/chat/completions", authorization: "Bearer sk-deployment-a", model: "upstream-a" },
      { url: "http://failover-b.test/v1/chat/completions", authorization: "Bearer sk-deployment-b", model: "upstream-b" },
      { url: "http://failover-c.test/v1/chat/completions", authorization: null, model: "upstream-c" },
    ]);
    for (const call of seen) expect(call.headers).not.toContain(key.key);
    // Every attempt carries the client's call id.
    const callId = response.headers.get("x-litellm-call-id");
    expect(callId).toBeTruthy();
    for (const call of seen) expect(JSON.parse(call.headers)).toContainEqual(["x-litellm-call-id", callId]);
    await settled(key.key);
    await drained(FAILOVER);
  });

  it("when every deployment fails the client gets the last upstream error, and nothing stays reserved anywhere", async () => {
    const key = await createKey();
    const seen = upstreams({
      "failover-a": failing(500, "a broke"),
      "failover-b": failing(503, "b broke"),
      "failover-c": failing(429, "c is rate limited", { "retry-after": "7" }),
    });
    const response = await send(key.key);
    expect(seen.map((call) => call.host)).toEqual(["failover-a", "failover-b", "failover-c"]);
    expect(response.status).toBe(429);
    expect(response.headers.get("x-edgequota-upstream-status")).toBe("429");
    expect(response.headers.get("x-litellm-model-id")).toBe("failover-c");
    const { error } = await json(response);
    expect(error.code).toBe("upstream_rate_limited");
    expect(error.message).toContain("c is rate limited");
    const info = await settled(key.key);
    expect(info.usage).toMatchObject({ in_flight: 0, reserved_tokens: 0, tokens: 0 });
    await drained(FAILOVER);
    for (const id of FAILOVER) expect(await deployment(id)).toMatchObject({ inFlight: 0, tokens: 0 });
  });

  it("after every deployment failed, every one of them rests: the next call is refused without reaching any upstream", async () => {
    const key = await createKey();
    const seen = upstreams({ "failover-a": failing(500), "failover-b": failing(500), "failover-c": failing(429, "c is rate limited", { "retry-after": "7" }) });
    expect((await send(key.key)).status).toBe(429);
    expect(seen).toHaveLength(3);
    await drained(FAILOVER);
    const resting = await Promise.all(FAILOVER.map(async (id) => [id, (await deployment(id)).coolingMs] as const));
    expect(Object.fromEntries(resting.map(([id, ms]) => [id, ms > 0]))).toEqual({ "failover-a": true, "failover-b": true, "failover-c": true });
    const next = await send(key.key);
    expect(seen).toHaveLength(3);
    expect(next.status).toBe(429);
    expect((await json(next)).error).toMatchObject({ code: "deployment_cooling_down", limit: { scope: "deployment" } });
  });

  it("when the last deployment cannot be reached the client gets 502 upstream_unreachable, and nothing stays reserved", async () => {
    const key = await createKey();
    const seen = upstreams({ "failover-a": failing(500), "failover-b": failing(500), "failover-c": refused });
    const response = await send(key.key);
    expect(seen).toHaveLength(3);
    expect(response.status).toBe(502);
    expect((await json(response)).error.code).toBe("upstream_unreachable");
    expect((await settled(key.key)).usage).toMatchObject({ in_flight: 0, reserved_tokens: 0, tokens: 0 });
    await drained(FAILOVER);
  });

  it("makes at most 3 upstream attempts, however many deployments the group has", async () => {
    const key = await createKey();
    const ids: DeploymentId[] = [...FAILOVER, ...BORROWED];
    const group = ids.map((id, index) => ({ id, base_url: `http://bounded-${index}.test/v1`, model: `bounded-${index}` }));
    const seen = upstreams(Object.fromEntries(ids.map((_, index) => [`bounded-${index}`, failing(500, `bounded-${index} broke`)])));
    const response = await callWith({ DEPLOYMENTS: JSON.stringify({ [MODEL]: group }) }, "/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
    });
    expect(response.status).toBe(502);
    expect(seen).toHaveLength(3);
    expect(new Set(seen.map((call) => call.host)).size).toBe(3);
    expect((await json(response)).error.message).toContain(`${seen[2]!.host} broke`);
    expect((await settled(key.key)).usage).toMatchObject({ requests: 1, in_flight: 0, reserved_tokens: 0 });
    await drained(ids);
  });
});
