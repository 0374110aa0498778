import { createExecutionContext, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { loadConfig } from "../../src/config/config";
import { costOf, nanosToUsd, reservationEntry } from "../../src/limiter";
import { keyObject } from "../../src/stubs";
import { chat, createKey, json, keyInfo, settled, shiftClock, withExactLength } from "../helpers/gateway";
import { ESTIMATE, ESTIMATE_COST, MAX_TOKENS, MESSAGES, PRICE, PROMPT_ESTIMATE } from "../helpers/default-request";

/** Every limit live, so every counter a leak could corrupt is in play. */
const LIMITS = { tpm_limit: 10_000, rpm_limit: 100, max_parallel_requests: 10, max_budget: 10 };

/** A chat request whose Request carries the client's abort signal, as a vanishing client's would; as long as its cap, like chat(). */
async function abortableChat(key: string, body: Record<string, unknown>, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
  const payload = { model: "gpt-4o-mini", messages: MESSAGES, max_tokens: MAX_TOKENS, ...body };
  const request = new Request("http://gateway.test/v1/chat/completions", {
    method: "POST",
    signal,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...withExactLength(payload, headers) },
    body: JSON.stringify(payload),
  });
  return app.fetch(request, env, createExecutionContext());
}

/** Nothing of the call is left reserved. */
function expectNothingReserved(info: Record<string, any>): void {
  expect(info.usage.in_flight).toBe(0);
  expect(info.usage.reserved_tokens).toBe(0);
  expect(info.usage.reserved_spend).toBe(0);
}

describe("upstream errors release the reservation", () => {
  it("an upstream 500 reaches the client as 502 and leaves nothing charged; the request still counts", async () => {
    const key = await createKey(LIMITS);
    const response = await chat(key.key, {}, { "x-mock-status": "500" });
    expect(response.status).toBe(502);
    const { error } = await json(response);
    expect(error.type).toBe("upstream_error");
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(0);
    expect(info.spend).toBe(0);
    expect(info.usage.requests).toBe(1);
    // The full token window is available again.
    const next = await chat(key.key);
    expect(next.headers.get("x-ratelimit-remaining-tokens")).toBe(String(LIMITS.tpm_limit - ESTIMATE));
    await next.text();
  });

  it("an upstream 429 reaches the client as 429 upstream_rate_limited, distinguishable from the key's own limits", async () => {
    const key = await createKey(LIMITS);
    const response = await chat(key.key, {}, { "x-mock-status": "429" });
    expect(response.status).toBe(429);
    const { error } = await json(response);
    expect(error.code).toBe("upstream_rate_limited");
    expect(error.limit).toBeUndefined();
    expect(response.headers.get("x-edgequota-upstream-status")).toBe("429");
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(0);
    expect(info.spend).toBe(0);
    expect(info.usage.requests).toBe(1);
  });

  it("a 200 without usage is charged at the reservation, never zero", async () => {
    const key = await createKey(LIMITS);
    const response = await chat(key.key, {}, { "x-mock-omit-usage": "true" });
    expect(response.status).toBe(200);
    await response.text();
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(ESTIMATE);
    expect(info.spend).toBe(nanosToUsd(ESTIMATE_COST));
  });
});

describe("interrupted streams settle with what was streamed", () => {
  it("a stream cut by the upstream settles: tokens above the prompt estimate, within the reservation, spend charged", async () => {
    const key = await createKey(LIMITS);
    const maxTokens = 20;
    const response = await chat(key.key, { stream: true, max_tokens: maxTokens }, { "x-mock-stream-truncate-after": "3" });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).not.toContain("[DONE]");
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBeGreaterThan(PROMPT_ESTIMATE);
    expect(info.usage.tokens).toBeGreaterThanOrEqual(PROMPT_ESTIMATE + 3);
    expect(info.usage.tokens).toBeLessThanOrEqual(PROMPT_ESTIMATE + maxTokens);
    const streamed = info.usage.tokens - PROMPT_ESTIMATE;
    expect(info.spend).toBe(nanosToUsd(costOf(PRICE, { prompt: PROMPT_ESTIMATE, completion: streamed })));
  });

  it("a stream that finishes without a usage chunk is charged the prompt bound plus what was streamed", async () => {
    const key = await createKey(LIMITS);
    const response = await chat(key.key, { stream: true, max_tokens: 5 }, { "x-mock-omit-usage": "true" });
    await response.text();
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(PROMPT_ESTIMATE + 5);
    expect(info.spend).toBeGreaterThan(0);
  });

  it("a client that aborts mid-stream ends the reservation and is charged for what it got", async () => {
    const key = await createKey(LIMITS);
    const controller = new AbortController();
    const maxTokens = 50;
    const response = await abortableChat(key.key, { stream: true, max_tokens: maxTokens }, { "x-mock-chunk-delay-ms": "20" }, controller.signal);
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    for (let index = 0; index < 3; index++) expect((await reader.read()).done).toBe(false);
    expect((await keyInfo(key.key)).usage.in_flight).toBe(1);
    controller.abort();
    await expect(
      (async () => {
        while (!(await reader.read()).done);
      })(),
    ).rejects.toThrow();
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBeGreaterThan(PROMPT_ESTIMATE);
    expect(info.usage.tokens).toBeLessThan(PROMPT_ESTIMATE + maxTokens);
    expect(info.spend).toBeGreaterThan(0);
    expect(info.usage.requests).toBe(1);
  });

  it("a client that stops reading and cancels the body (no abort signal) ends the reservation and is charged", async () => {
    const key = await createKey(LIMITS);
    const maxTokens = 50;
    const response = await chat(key.key, { stream: true, max_tokens: maxTokens }, { "x-mock-chunk-delay-ms": "20" });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    for (let index = 0; index < 3; index++) expect((await reader.read()).done).toBe(false);
    await reader.cancel();
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBeGreaterThan(PROMPT_ESTIMATE);
    expect(info.usage.tokens).toBeLessThan(PROMPT_ESTIMATE + maxTokens);
    expect(info.spend).toBeGreaterThan(0);
  });

  it("a client that leaves before the upstream answers is charged the estimate (the upstream may bill it)", async () => {
    const key = await createKey(LIMITS);
    const controller = new AbortController();
    const pending = abortableChat(key.key, {}, { "x-mock-latency-ms": "2000" }, controller.signal);
    let info = await keyInfo(key.key);
    for (let tries = 0; info.usage.in_flight === 0 && tries < 100; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      info = await keyInfo(key.key);
    }
    expect(info.usage.in_flight).toBe(1);
    controller.abort();
    const response = await pending;
    expect(response.status).toBe(502);
    expect((await json(response)).error.code).toBe("client_closed");
    info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(ESTIMATE);
    expect(info.spend).toBe(nanosToUsd(ESTIMATE_COST));
  });
});

describe("a front door that never settles", () => {
  const TTL = loadConfig(env).reservationTtlMs;
  const stubOf = (token: string) => env.KEYS.get(env.KEYS.idFromName(token));

  async function admitDirectly(token: string) {
    const requestId = crypto.randomUUID();
    const admitted = await keyObject(env, token).admit({ requestId, model: "gpt-4o-mini", promptTokens: 100, promptExact: false, promptLowerBound: 0, maxOutputTokens: 50, price: PRICE }, token);
    if (admitted.kind !== "admitted") throw new Error("not admitted");
    return { requestId, reserved: admitted.reserved };
  }

  it("is charged at its estimate by the alarm once the reservation TTL passes", async () => {
    const key = await createKey(LIMITS);
    const { requestId, reserved } = await admitDirectly(key.token);
    expect(reserved.tokens).toBe(150);
    expect(reserved.cost).toBe(costOf(PRICE, { prompt: 100, completion: 50 }));

    await shiftClock(key.token, TTL - 1_000);
    let info = await keyInfo(key.key);
    expect(info.usage.in_flight).toBe(1);
    expect(info.usage.reserved_tokens).toBe(reserved.tokens);
    expect(info.usage.reserved_spend).toBe(nanosToUsd(reserved.cost));
    expect(info.spend).toBe(0);

    await shiftClock(key.token, 1_005);
    expect(await runDurableObjectAlarm(stubOf(key.token))).toBe(true);
    // The alarm itself removed the stored reservation.
    const stored = await runInDurableObject(stubOf(key.token), (_instance, state) => state.storage.kv.get(`limiter/${reservationEntry(requestId)}`));
    expect(stored).toBeUndefined();

    info = await keyInfo(key.key);
    expectNothingReserved(info);
    expect(info.spend).toBe(nanosToUsd(reserved.cost));
    // A front door that shows up late cannot charge it a second time.
    expect(await keyObject(env, key.token).finish(requestId, { tokens: 1, cost: 1 })).toBe(false);
    expect((await keyInfo(key.key)).spend).toBe(nanosToUsd(reserved.cost));
  });

  it("counts its reserved tokens in the window while the window still holds them", async () => {
    const key = await createKey(LIMITS);
    const { reserved } = await admitDirectly(key.token);
    await shiftClock(key.token, 30_000);
    const info = await keyInfo(key.key);
    expect(info.usage.tokens).toBe(reserved.tokens);
    expect(info.usage.requests).toBe(1);
  });

  it("is expired on the next access after the TTL even if the alarm never runs", async () => {
    const key = await createKey(LIMITS);
    const { reserved } = await admitDirectly(key.token);
    await shiftClock(key.token, TTL + 5);
    const info = await keyInfo(key.key);
    expectNothingReserved(info);
    expect(info.spend).toBe(nanosToUsd(reserved.cost));
  });
});
