import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { LimiterState } from "../../src/limiter/state";
import { waitFor } from "../../src/limiter/window";
import { deploymentStub } from "../helpers/objects";
import { promptUpperBound } from "../../src/upstream/estimate";
import { chat, createKey, json, settled } from "../helpers/gateway";

const MODEL = "pooled-model";
const POOL = { "pool-a": 2000, "pool-b": 1000 } as const;
type PoolId = keyof typeof POOL;
const IDS = Object.keys(POOL) as PoolId[];
const WINDOW_MS = 60_000;
const MESSAGES = [{ role: "user", content: "route me" }];
/** Keeps every admitted call in flight while the next ones are routed, so no settlement changes the picture. */
const SLOW = { "x-mock-latency-ms": "4000" };

const stub = (id: PoolId) => deploymentStub(id);
type Inner = { store: { state: LimiterState }; now(): number; cooldownUntil: number };

interface Live {
  remaining: number;
  reservations: Set<string>;
}

/** What the deployment's own object holds right now: remaining tokens in its window, and its reservations. */
function live(id: PoolId): Promise<Live> {
  return runInDurableObject(stub(id), (instance) => {
    const view = instance.view();
    const reservations = new Set(view ? (instance as unknown as Inner).store.state.reservations.keys() : []);
    return { remaining: POOL[id] - (view?.snapshot.window.tokens ?? 0), reservations };
  });
}

async function liveAll(): Promise<Record<PoolId, Live>> {
  const [a, b] = await Promise.all(IDS.map(live));
  return { "pool-a": a!, "pool-b": b! };
}

/** The instant (in the deployment's own clock) at which `need` more tokens fit, and that clock's offset. */
function freesAt(id: PoolId, need: number): Promise<{ at: number; offset: number }> {
  return runInDurableObject(stub(id), (instance) => {
    const inner = instance as unknown as Inner;
    const now = inner.now();
    const window = inner.store.state.windows.get("*") ?? { buckets: [] };
    const wait = waitFor(window, "tokens", need, POOL[id], now, WINDOW_MS);
    if (wait === null || wait === 0) throw new Error(`${id} is not full`);
    return { at: now + wait, offset: instance.clockOffsetMs };
  });
}

function shiftClock(id: PoolId, ms: number): Promise<void> {
  return runInDurableObject(stub(id), (instance) => {
    instance.clockOffsetMs += ms;
  });
}

/** Every test starts with empty windows and no cool-down. */
afterEach(async () => {
  for (const id of IDS) await shiftClock(id, 2 * WINDOW_MS);
});

interface Routed {
  /** Deployments with the most remaining tokens (that fit the call) just before it was sent. */
  best: PoolId[];
  routed: PoolId;
  requestId: string;
  response: Promise<Response>;
}

/**
 * Sends calls one at a time, each kept in flight, and finds where each was routed from the reservation that
 * appeared in a deployment's object; stops at the first refusal.
 */
async function fillPool(key: string, maxTokens: number): Promise<{ calls: Routed[]; refused: Response; estimate: number }> {
  const estimate = promptUpperBound(MESSAGES) + maxTokens;
  const calls: Routed[] = [];
  for (;;) {
    const before = await liveAll();
    const fitting = IDS.filter((id) => before[id].remaining >= estimate);
    const most = Math.max(...fitting.map((id) => before[id].remaining));
    const best = fitting.filter((id) => before[id].remaining === most);
    let done: Response | null = null;
    const response = chat(key, { model: MODEL, messages: MESSAGES, max_tokens: maxTokens }, SLOW).then((answer) => (done = answer));
    let routed: { id: PoolId; requestId: string } | null = null;
    for (let polls = 0; routed === null && done === null; polls++) {
      if (polls > 1000) throw new Error("call neither admitted nor refused");
      await new Promise((resolve) => setTimeout(resolve, 2));
      const after = await liveAll();
      for (const id of IDS) {
        const fresh = [...after[id].reservations].find((requestId) => !before[id].reservations.has(requestId));
        if (fresh) routed = { id, requestId: fresh };
      }
    }
    if (routed === null) {
      expect(fitting, "refused although a deployment had room").toEqual([]);
      return { calls, refused: (await response) as Response, estimate };
    }
    calls.push({ best, routed: routed.id, requestId: routed.requestId, response });
  }
}

describe("routing between the deployments of a model group", () => {
  it("sends every call to the deployment with the most remaining tokens", async () => {
    const key = await createKey();
    const { calls } = await fillPool(key.key, 262);
    try {
      for (const [index, call] of calls.entries()) {
        expect(call.best, `call ${index + 1} went to ${call.routed}`).toContain(call.routed);
      }
    } finally {
      await Promise.all(calls.map((call) => call.response));
      await settled(key.key);
    }
  });

  it("spills over to the other deployment when one is full; when both are full: 429 scope deployment, retry-after-ms = the soonest one frees", async () => {
    const key = await createKey();
    const { calls, refused, estimate } = await fillPool(key.key, 262);
    const count = (id: PoolId) => calls.filter((call) => call.routed === id).length;
    expect(count("pool-a")).toBe(Math.floor(POOL["pool-a"] / estimate));
    expect(count("pool-b")).toBe(Math.floor(POOL["pool-b"] / estimate));

    expect(refused.status).toBe(429);
    const error = (await json(refused)).error;
    expect(error.code).toBe("tpm_limit_exceeded");
    expect(error.limit).toMatchObject({ scope: "deployment", name: "tpm_limit", requested: estimate });

    // Make each deployment in turn the one that frees first, 20 s apart, and check the answer names that time.
    for (const [sooner, shift] of [["pool-b", 20_000], ["pool-a", 30_000]] as const) {
      await shiftClock(sooner, shift);
      const sentAt = Date.now();
      const response = await chat(key.key, { model: MODEL, messages: MESSAGES, max_tokens: 262 });
      const answeredAt = Date.now();
      expect(response.status).toBe(429);
      expect((await json(response)).error.limit.scope).toBe("deployment");
      const frees = await Promise.all(IDS.map((id) => freesAt(id, estimate)));
      const latest = Math.min(...frees.map(({ at, offset }) => at - offset - sentAt));
      const earliest = Math.min(...frees.map(({ at, offset }) => at - offset - answeredAt));
      const soonest = IDS[frees.findIndex(({ at, offset }) => at - offset === Math.min(...frees.map((f) => f.at - f.offset)))];
      expect(soonest).toBe(sooner);
      const retryAfterMs = Number(response.headers.get("retry-after-ms"));
      expect(retryAfterMs).toBeGreaterThanOrEqual(Math.floor(earliest) - 5);
      expect(retryAfterMs).toBeLessThanOrEqual(Math.ceil(latest) + 5);
      expect(response.headers.get("retry-after")).toBe(String(Math.ceil(retryAfterMs / 1000)));
    }

    for (const call of calls) {
      const response = await call.response;
      expect(response.status).toBe(200);
      expect(response.headers.get("x-litellm-model-id")).toBe(call.routed);
      expect(response.headers.get("x-litellm-call-id")).toBe(call.requestId);
      // The mock echoes the model it was sent: the deployment's, not the group's.
      expect((await json(response)).model).toBe("gpt-4o-mini");
    }
    const info = await settled(key.key);
    expect(info.usage.requests).toBe(calls.length);
    expect(info.usage.reserved_tokens).toBe(0);
    for (const id of IDS) expect((await live(id)).reservations.size).toBe(0);
  });

  it("sends a call back to the bigger deployment once its window has freed", async () => {
    const key = await createKey();
    const coolDown = (id: PoolId) => runInDurableObject(stub(id), (instance) => instance.coolDown(5_000));
    const send = async (maxTokens: number, expected: PoolId) => {
      const response = await chat(key.key, { model: MODEL, messages: MESSAGES, max_tokens: maxTokens });
      expect(response.status).toBe(200);
      expect(response.headers.get("x-litellm-model-id")).toBe(expected);
    };
    // pool-a rests: a small call lands on pool-b.
    await coolDown("pool-a");
    await send(10, "pool-b");
    // pool-a is back and pool-b rests: three big calls fill pool-a to 2000 - 3 * estimate.
    await shiftClock("pool-a", 2 * WINDOW_MS);
    await coolDown("pool-b");
    for (let index = 0; index < 3; index++) await send(560, "pool-a");
    await settled(key.key);
    // A window later both are empty again and neither rests: pool-a has 2000 left, pool-b 1000.
    for (const id of IDS) await shiftClock(id, 2 * WINDOW_MS);
    const before = await liveAll();
    expect(before["pool-a"].remaining).toBe(2000);
    expect(before["pool-b"].remaining).toBe(1000);
    // The front door's memory of each deployment's room goes stale after a second, then the configured size ranks.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await send(10, "pool-a");
  });

  it("the upstream is sent the deployment's model name", async () => {
    const key = await createKey();
    const response = await chat(key.key, { model: MODEL, max_tokens: 3 });
    expect(response.status).toBe(200);
    expect(IDS).toContain(response.headers.get("x-litellm-model-id"));
    const body = await json(response);
    expect(body.model).toBe("gpt-4o-mini");
    expect(body.usage.completion_tokens).toBe(3);
  });
});
