import { createExecutionContext, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { MAX_TOKENS, MESSAGES } from "../helpers/default-request";
import { call, chat, createKey, ensureTeam, json, keyInfo, settled } from "../helpers/gateway";
import { unique } from "../helpers/key-routes";
import { keyStub } from "../helpers/objects";
import { spendLogs } from "../helpers/proxy";

// Waiting instead of 429: a call that may wait is queued at its owner and admitted the moment it fits.

const SLOW = (ms: number) => ({ "x-mock-latency-ms": String(ms) });
const WAIT = (ms: number) => ({ "x-edgequota-max-wait-ms": String(ms) });

describe("bounded waiting at the key", () => {
  it("admits a waiting call the moment a parallel slot frees, and says how long it waited", async () => {
    const key = await createKey({ max_parallel_requests: 1 });
    const started = Date.now();
    const first = chat(key.key, {}, SLOW(400));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await chat(key.key, {}, WAIT(5000));
    expect(second.status).toBe(200);
    const waited = Number(second.headers.get("x-edgequota-queue-ms"));
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(2000);
    expect((await first).status).toBe(200);
    // The second call waited for the first to end, not for a poll interval: it was done shortly after it.
    expect(Date.now() - started).toBeLessThan(2000);
    const info = await settled(key.key);
    expect(info.usage.requests).toBe(2);
    const lines = await spendLogs(key.key);
    expect(lines.some((line) => (line as any).queue_ms >= 250)).toBe(true);
  });

  it("uses the key's max_wait_ms when the call does not say", async () => {
    const key = await createKey({ max_parallel_requests: 1, max_wait_ms: 5000 });
    const first = chat(key.key, {}, SLOW(300));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await chat(key.key);
    expect(second.status).toBe(200);
    expect(Number(second.headers.get("x-edgequota-queue-ms"))).toBeGreaterThan(100);
    await first;
    await settled(key.key);
  });

  it("answers 429 at once when the exact wait is known to exceed the bound", async () => {
    const key = await createKey({ rpm_limit: 1 });
    expect((await chat(key.key)).status).toBe(200);
    const started = Date.now();
    const refused = await chat(key.key, {}, WAIT(2000));
    expect(refused.status).toBe(429);
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await json(refused)).error.code).toBe("rpm_limit_exceeded");
    expect(Number(refused.headers.get("retry-after-ms"))).toBeGreaterThan(2000);
    expect(refused.headers.get("x-edgequota-queue-ms")).toBeNull();
  });

  it("refuses at once a budget that will not reset within the bound", async () => {
    const key = await createKey({ max_budget: 0.0000001 });
    const started = Date.now();
    const refused = await chat(key.key, {}, WAIT(5000));
    expect(refused.status).toBe(429);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("a call that may not wait is refused while others wait, rather than overtaking them", async () => {
    const key = await createKey({ max_parallel_requests: 1 });
    const first = chat(key.key, {}, SLOW(500));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const waiter = chat(key.key, {}, WAIT(5000));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const impatient = await chat(key.key);
    expect(impatient.status).toBe(429);
    const code = (await json(impatient)).error.code;
    expect(["calls_waiting", "max_parallel_requests_exceeded"]).toContain(code);
    expect((await first).status).toBe(200);
    expect((await waiter).status).toBe(200);
    await settled(key.key);
  });

  it("shows queue length and oldest wait in /key/info while calls wait", async () => {
    const key = await createKey({ max_parallel_requests: 1 });
    const first = chat(key.key, {}, SLOW(600));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const waiters = [chat(key.key, {}, WAIT(5000)), chat(key.key, {}, WAIT(5000))];
    await new Promise((resolve) => setTimeout(resolve, 200));
    const info = await keyInfo(key.key);
    expect(info.usage.queue.length).toBe(2);
    expect(info.usage.queue.oldest_wait_ms).toBeGreaterThanOrEqual(100);
    expect((await first).status).toBe(200);
    for (const waiter of waiters) expect((await waiter).status).toBe(200);
    const after = await settled(key.key);
    expect(after.usage.queue).toEqual({ length: 0, oldest_wait_ms: null });
  });

  it("a client that disconnects while waiting leaves the queue and nothing is reserved for it", async () => {
    const key = await createKey({ max_parallel_requests: 1 });
    const first = chat(key.key, {}, SLOW(600));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const controller = new AbortController();
    const body = { model: "gpt-4o-mini", messages: MESSAGES, max_tokens: MAX_TOKENS };
    const gone = app.fetch(
      new Request("http://gateway.test/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json", ...WAIT(5000) },
        body: JSON.stringify(body),
        signal: controller.signal,
      }),
      env,
      createExecutionContext(),
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect((await keyInfo(key.key)).usage.queue.length).toBe(1);
    controller.abort();
    const answer = await Promise.resolve(gone).catch((error: unknown) => error);
    if (answer instanceof Response) expect(answer.status).not.toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await keyInfo(key.key)).usage.queue.length).toBe(0);
    expect((await first).status).toBe(200);
    const info = await settled(key.key);
    expect(info.usage.requests).toBe(1);
    expect(info.usage.reserved_tokens).toBe(0);
  });

  it("bounds the queue: beyond its token bound a waiting call gets 429 queue_full", async () => {
    const key = await createKey({ max_parallel_requests: 1, tpm_limit: 200 });
    const first = chat(key.key, {}, SLOW(800));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const answers = await Promise.all(Array.from({ length: 80 }, () => chat(key.key, {}, WAIT(10_000))));
    const codes = await Promise.all(answers.filter((response) => response.status === 429).map(async (response) => (await json(response)).error.code));
    expect(codes.filter((code) => code === "queue_full").length).toBeGreaterThan(0);
    expect(answers.filter((response) => response.status === 200).length).toBeGreaterThan(0);
    await Promise.all(answers.filter((response) => response.status === 200).map((response) => response.text()));
    expect((await first).status).toBe(200);
    const info = await settled(key.key, 20_000);
    expect(info.usage.tokens).toBeLessThanOrEqual(200);
  });

  it("a malformed x-edgequota-max-wait-ms is a 400 that moves no counter", async () => {
    const key = await createKey({ rpm_limit: 5 });
    for (const value of ["-1", "1.5", "soon", "300001"]) {
      const response = await chat(key.key, {}, { "x-edgequota-max-wait-ms": value });
      expect(response.status).toBe(400);
      expect((await json(response)).error.param).toBe("x-edgequota-max-wait-ms");
    }
    expect((await keyInfo(key.key)).usage.requests).toBe(0);
  });
});

describe("waiting at the team", () => {
  it("a team's queue admits its keys' waiting calls as capacity frees, and /team/info shows the queue", async () => {
    const teamId = unique("queue-team");
    await ensureTeam(teamId, { max_parallel_requests: 1 });
    const [a, b] = await Promise.all([createKey({ team_id: teamId }), createKey({ team_id: teamId })]);
    const first = chat(a.key, {}, SLOW(500));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const waiting = [chat(a.key, {}, WAIT(5000)), chat(b.key, {}, WAIT(5000))];
    await new Promise((resolve) => setTimeout(resolve, 150));
    const team = await json(await call(`/team/info?team_id=${teamId}`));
    expect(team.team_info.usage.queue.length).toBe(2);
    expect((await first).status).toBe(200);
    for (const response of waiting) expect((await response).status).toBe(200);
    await Promise.all([settled(a.key), settled(b.key)]);
  });
});

describe("the queue lives in memory", () => {
  it("keeps nothing of a waiter in the key's storage", async () => {
    const key = await createKey({ max_parallel_requests: 1 });
    const first = chat(key.key, {}, SLOW(300));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const waiter = chat(key.key, {}, WAIT(5000));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stored = await runInDurableObject(keyStub(key.token), (_instance, state) => [...state.storage.kv.list({ prefix: "limiter/r:" })].length);
    expect(stored).toBe(1);
    await first;
    await waiter;
    await settled(key.key);
  });
});

/** Sends a waiting call and resolves with the instant it finished (each holds the slot for `holdMs`). */
async function timed(key: string, holdMs: number): Promise<{ status: number; doneAt: number }> {
  const response = await chat(key, {}, { ...WAIT(10_000), ...SLOW(holdMs) });
  await response.text();
  return { status: response.status, doneAt: Date.now() };
}

describe("fair shares and priorities inside a team", () => {
  it("a key with one waiting call is not starved by a key with many (max-min fairness)", async () => {
    const teamId = unique("fair-team");
    await ensureTeam(teamId, { max_parallel_requests: 1 });
    const [heavy, light] = await Promise.all([createKey({ team_id: teamId }), createKey({ team_id: teamId })]);
    const first = timed(heavy.key, 300);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const heavyCalls = [timed(heavy.key, 150), timed(heavy.key, 150), timed(heavy.key, 150)];
    await new Promise((resolve) => setTimeout(resolve, 50));
    const lightCall = timed(light.key, 150);
    const [done, heavyDone, lightDone] = await Promise.all([first, Promise.all(heavyCalls), lightCall]);
    for (const answer of [done, ...heavyDone, lightDone]) expect(answer.status).toBe(200);
    // The light key queued last but was served before the heavy key's second waiting call.
    const heavyOrder = heavyDone.map((answer) => answer.doneAt).sort((a, b) => a - b);
    expect(lightDone.doneAt).toBeLessThan(heavyOrder[1]!);
    await Promise.all([settled(heavy.key), settled(light.key)]);
  });

  it("a priority class short of its priority_reservation goes first, even when it queued later", async () => {
    const teamId = unique("prio-team");
    await ensureTeam(teamId, { max_parallel_requests: 1, priority_reservation: { prod: 0.8, batch: 0.2 } });
    const [prod, batch] = await Promise.all([
      createKey({ team_id: teamId, priority: "prod" }),
      createKey({ team_id: teamId, priority: "batch" }),
    ]);
    const first = timed(batch.key, 300);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const batchCalls = [timed(batch.key, 120), timed(batch.key, 120)];
    await new Promise((resolve) => setTimeout(resolve, 50));
    const prodCalls = [timed(prod.key, 120), timed(prod.key, 120)];
    const [, batchDone, prodDone] = await Promise.all([first, Promise.all(batchCalls), Promise.all(prodCalls)]);
    for (const answer of [...batchDone, ...prodDone]) expect(answer.status).toBe(200);
    const firstBatch = Math.min(...batchDone.map((answer) => answer.doneAt));
    const firstProd = Math.min(...prodDone.map((answer) => answer.doneAt));
    // Since the queue formed nothing was served: prod (0 of its 80%) goes before the batch calls waiting ahead of
    // it; then batch (0 of its 20%) gets its turn before prod's second call.
    expect(firstProd).toBeLessThan(firstBatch);
    expect(firstBatch).toBeLessThan(Math.max(...prodDone.map((answer) => answer.doneAt)));
    await Promise.all([settled(prod.key), settled(batch.key)]);
  });

  it("a priority_reservation whose shares add up to more than 1 is a 400", async () => {
    const response = await call("/team/new", { body: { team_id: unique("bad-prio"), priority_reservation: { prod: 0.8, batch: 0.5 } } });
    expect(response.status).toBe(400);
    expect((await json(response)).error.message).toContain("more than 1");
  });
});
