import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config";
import { bucketWidth } from "../../src/limiter/window";
import { keyStub } from "../helpers/objects";
import { formatDuration } from "../../src/http/duration-format";
import { costOf, nanosToUsd } from "../../src/limiter";
import { chat, createKey, json, keyInfo, settled, shiftClock } from "../helpers/gateway";
import { ESTIMATE, ESTIMATE_COST, MAX_TOKENS, MESSAGES, PRICE, PROMPT_ESTIMATE } from "../helpers/default-request";

/** A budget (nano-dollars) that admits one request and, once its real cost is spent, refuses the next. */
const ONE_CALL_BUDGET = ESTIMATE_COST + 1;

interface Refusal {
  response: Response;
  error: Record<string, any>;
  /** retry-after-ms, or null when absent. */
  retryMs: number | null;
}

async function refused(response: Response): Promise<Refusal> {
  const text = await response.text();
  expect(response.status, text).toBe(429);
  const body = JSON.parse(text) as { error: Record<string, any> };
  const raw = response.headers.get("retry-after-ms");
  return { response, error: body.error, retryMs: raw === null ? null : Number(raw) };
}

async function ok(response: Response): Promise<Record<string, any>> {
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return JSON.parse(text) as Record<string, any>;
}

/** OpenAI's error envelope, plus the retry headers agreeing with `error.limit.resets_in_ms`. */
function expectOpenAiShape({ response, error, retryMs }: Refusal): void {
  expect(Object.keys(error)).toEqual(expect.arrayContaining(["message", "type", "param", "code", "limit"]));
  expect(typeof error.message).toBe("string");
  expect(error.param).toBeNull();
  expect(error.limit.resets_in_ms).toBe(retryMs);
  if (retryMs === null) {
    expect(response.headers.get("retry-after")).toBeNull();
  } else {
    expect(Number.isInteger(retryMs)).toBe(true);
    expect(retryMs).toBeGreaterThan(0);
    expect(response.headers.get("retry-after")).toBe(String(Math.ceil(retryMs / 1000)));
  }
}

describe("429 bodies name the limit, its value, what remains and when it frees", () => {
  it("rpm_limit: rate_limit_error / rpm_limit_exceeded", async () => {
    const key = await createKey({ rpm_limit: 1 });
    await ok(await chat(key.key));
    const refusal = await refused(await chat(key.key));
    expectOpenAiShape(refusal);
    const { error, retryMs, response } = refusal;
    expect(error.type).toBe("rate_limit_error");
    expect(error.code).toBe("rpm_limit_exceeded");
    expect(error.limit).toEqual({ scope: "key", name: "rpm_limit", limit: 1, remaining: 0, requested: 1, resets_in_ms: retryMs, model: null });
    expect(error.message).toContain("rpm_limit is 1");
    expect(error.message).toContain("0 remaining");
    expect(error.message).toContain(`frees in ${formatDuration(retryMs!)}`);
    // The refusal carries the live headers too: nothing left.
    expect(response.headers.get("x-ratelimit-remaining-requests")).toBe("0");
  });

  it("tpm_limit: rate_limit_error / tpm_limit_exceeded, remaining counts the first call's real usage", async () => {
    const limit = ESTIMATE + 1;
    const key = await createKey({ tpm_limit: limit });
    const first = await ok(await chat(key.key));
    await settled(key.key);
    const refusal = await refused(await chat(key.key));
    expectOpenAiShape(refusal);
    const { error, retryMs } = refusal;
    const remaining = limit - first.usage.total_tokens;
    expect(remaining).toBeLessThan(ESTIMATE);
    expect(error.type).toBe("rate_limit_error");
    expect(error.code).toBe("tpm_limit_exceeded");
    expect(error.limit).toEqual({ scope: "key", name: "tpm_limit", limit, remaining, requested: ESTIMATE, resets_in_ms: retryMs, model: null });
    expect(error.message).toContain(`tpm_limit is ${limit}`);
    expect(error.message).toContain(`${remaining} remaining`);
    expect(error.message).toContain(`needs ${ESTIMATE}`);
    expect(error.message).toContain(`frees in ${formatDuration(retryMs!)}`);
  });

  it("max_parallel_requests: rate_limit_error / max_parallel_requests_exceeded while a call is in flight", async () => {
    const key = await createKey({ max_parallel_requests: 1 });
    const slow = chat(key.key, {}, { "x-mock-latency-ms": "1000" });
    let info = await keyInfo(key.key);
    for (let tries = 0; info.usage.in_flight === 0 && tries < 100; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      info = await keyInfo(key.key);
    }
    expect(info.usage.in_flight).toBe(1);
    const refusal = await refused(await chat(key.key));
    expectOpenAiShape(refusal);
    const { error, retryMs } = refusal;
    expect(error.type).toBe("rate_limit_error");
    expect(error.code).toBe("max_parallel_requests_exceeded");
    expect(error.limit).toEqual({ scope: "key", name: "max_parallel_requests", limit: 1, remaining: 0, requested: 1, resets_in_ms: retryMs, model: null });
    expect(error.message).toContain("max_parallel_requests is 1");
    expect(error.message).toContain("0 remaining");
    await ok(await slow);
    await settled(key.key);
    await ok(await chat(key.key));
  });

  it("max_budget: budget_exceeded / budget_exceeded, amounts in USD", async () => {
    const key = await createKey({ max_budget: nanosToUsd(ONE_CALL_BUDGET) });
    const first = await ok(await chat(key.key));
    const info = await settled(key.key);
    const spent = costOf(PRICE, { prompt: first.usage.prompt_tokens, completion: first.usage.completion_tokens });
    expect(info.spend).toBe(nanosToUsd(spent));
    const refusal = await refused(await chat(key.key));
    expectOpenAiShape(refusal);
    const { error } = refusal;
    expect(error.type).toBe("budget_exceeded");
    expect(error.code).toBe("budget_exceeded");
    expect(error.limit).toEqual({
      scope: "key",
      name: "max_budget",
      limit: nanosToUsd(ONE_CALL_BUDGET),
      remaining: nanosToUsd(ONE_CALL_BUDGET - spent),
      requested: nanosToUsd(ESTIMATE_COST),
      resets_in_ms: null,
      model: null,
    });
    expect(error.message).toContain(`max_budget is ${nanosToUsd(ONE_CALL_BUDGET)}`);
    expect(error.message).toContain(`${nanosToUsd(ONE_CALL_BUDGET - spent)} remaining`);
  });
});

/** Each variant admits one default chat request, then refuses the same request until `retry-after-ms` has passed. */
const VARIANTS = [
  { limit: "rpm_limit", code: "rpm_limit_exceeded", settings: { rpm_limit: 1 } },
  { limit: "tpm_limit", code: "tpm_limit_exceeded", settings: { tpm_limit: ESTIMATE + 1 } },
  { limit: "max_budget with budget_duration", code: "budget_exceeded", settings: { max_budget: nanosToUsd(ONE_CALL_BUDGET), budget_duration: "30s" } },
] as const;

async function firstRefusal(settings: Record<string, unknown>): Promise<{ token: string; key: string; refusal: Refusal }> {
  const key = await createKey(settings);
  await ok(await chat(key.key));
  await settled(key.key);
  const refusal = await refused(await chat(key.key));
  expect(refusal.retryMs).not.toBeNull();
  return { token: key.token, key: key.key, refusal };
}

describe("retry-after-ms is exact", () => {
  for (const variant of VARIANTS) {
    it(`${variant.limit}: the same request is admitted right after retry-after-ms`, async () => {
      const { token, key, refusal } = await firstRefusal(variant.settings);
      expect(refusal.error.code).toBe(variant.code);
      await shiftClock(token, refusal.retryMs! + 5);
      await ok(await chat(key));
    });

    it(`${variant.limit}: the same request is still refused one second before retry-after-ms`, async () => {
      const { token, key, refusal } = await firstRefusal(variant.settings);
      await shiftClock(token, refusal.retryMs! - 1_000);
      const again = await refused(await chat(key));
      expect(again.error.code).toBe(variant.code);
      expect(again.retryMs).toBeGreaterThan(0);
      expect(again.retryMs).toBeLessThanOrEqual(1_000);
    });
  }

  it("is not the window length when capacity frees earlier (rpm 2, second call 20 s after the first)", async () => {
    const key = await createKey({ rpm_limit: 2 });
    await ok(await chat(key.key));
    await shiftClock(key.token, 20_000);
    await ok(await chat(key.key));
    const refusal = await refused(await chat(key.key));
    expect(refusal.error.code).toBe("rpm_limit_exceeded");
    // The first call leaves the window 60 s after it was made (at most one 100 ms bucket later): ~40 s from now.
    expect(refusal.retryMs).toBeGreaterThan(39_000);
    expect(refusal.retryMs).toBeLessThanOrEqual(40_100);
    expect(refusal.response.headers.get("retry-after")).toBe(String(Math.ceil(refusal.retryMs! / 1000)));
    await shiftClock(key.token, refusal.retryMs! + 5);
    await ok(await chat(key.key));
    // Only one slot freed: the second call is still in the window.
    expect((await refused(await chat(key.key))).error.code).toBe("rpm_limit_exceeded");
  });
});

/** Moves the key's clock forward to 1 ms past a window-bucket boundary, so the next request is stamped ~1 bucket late. */
async function alignJustPastBucketBoundary(token: string): Promise<void> {
  const width = bucketWidth(loadConfig(env).windowMs);
  await runInDurableObject(keyStub(token), (instance) => {
    const now = Date.now() + instance.clockOffsetMs;
    instance.clockOffsetMs += (width + 1 - (now % width)) % width;
  });
}

describe("a window limit always frees within one window, so clients are told to retry", () => {
  for (const variant of VARIANTS.slice(0, 2)) {
    it(`${variant.limit}: x-should-retry is true even when the first call's bucket stamp makes the wait a few ms over 60 s`, async () => {
      const key = await createKey(variant.settings);
      await alignJustPastBucketBoundary(key.token);
      await ok(await chat(key.key));
      const refusal = await refused(await chat(key.key));
      expect(refusal.error.code).toBe(variant.code);
      // Frees when the first call's bucket leaves the window: at most one window plus one bucket away.
      const width = bucketWidth(loadConfig(env).windowMs);
      expect(refusal.retryMs).toBeGreaterThan(loadConfig(env).windowMs - 1_000);
      expect(refusal.retryMs).toBeLessThanOrEqual(loadConfig(env).windowMs + width);
      expect(refusal.response.headers.get("x-should-retry")).toBe("true");
    });
  }
});

describe("refusals that waiting will not fix say so", () => {
  it("a single request larger than the whole tpm_limit under strict: request_exceeds_limit, x-should-retry false, no retry-after", async () => {
    const limit = ESTIMATE - 1;
    const key = await createKey({ tpm_limit: limit, reservation_policy: "strict" });
    const refusal = await refused(await chat(key.key));
    expectOpenAiShape(refusal);
    const { error, response } = refusal;
    expect(error.type).toBe("rate_limit_error");
    expect(error.code).toBe("request_exceeds_limit");
    expect(response.headers.get("x-should-retry")).toBe("false");
    expect(response.headers.get("retry-after")).toBeNull();
    expect(response.headers.get("retry-after-ms")).toBeNull();
    expect(error.limit).toEqual({ scope: "key", name: "tpm_limit", limit, remaining: limit, requested: ESTIMATE, resets_in_ms: null, model: null });
    expect(error.message).toContain(`needs ${ESTIMATE}`);
    expect(error.message).toContain(`tpm_limit is ${limit}`);
    const info = await keyInfo(key.key);
    expect(info.usage).toMatchObject({ in_flight: 0, requests: 0, tokens: 0, reserved_tokens: 0 });
    // A smaller request still fits.
    await ok(await chat(key.key, { max_tokens: MAX_TOKENS - 1 }));
  });

  it("a request whose cap exceeds tpm_limit but whose prompt fits is admitted alone under adaptive, and charged its real usage", async () => {
    const limit = ESTIMATE - 1;
    const key = await createKey({ tpm_limit: limit });
    await ok(await chat(key.key, {}, { "x-mock-completion-tokens": "3" }));
    const info = await settled(key.key);
    expect(info.usage.tokens).toBeLessThanOrEqual(limit);
    expect(info.usage.tokens).toBeGreaterThan(3);
    // It took the whole window while in flight; the next one waits for the window rather than being refused forever.
    const refusal = await refused(await chat(key.key));
    expect(refusal.error.code).toBe("tpm_limit_exceeded");
    expect(refusal.response.headers.get("x-should-retry")).toBe("true");
  });

  it("a prompt whose lower bound exceeds tpm_limit is too large under adaptive too", async () => {
    const key = await createKey({ tpm_limit: 5 });
    const refusal = await refused(await chat(key.key, { messages: [{ role: "user", content: "word ".repeat(50) }] }));
    expect(refusal.error.code).toBe("request_exceeds_limit");
    expect(refusal.response.headers.get("x-should-retry")).toBe("false");
  });

  it("a used-up budget without budget_duration: budget_exceeded, x-should-retry false, no retry-after", async () => {
    const key = await createKey({ max_budget: nanosToUsd(ONE_CALL_BUDGET) });
    await ok(await chat(key.key));
    await settled(key.key);
    const refusal = await refused(await chat(key.key));
    expect(refusal.error.code).toBe("budget_exceeded");
    expect(refusal.response.headers.get("x-should-retry")).toBe("false");
    expect(refusal.response.headers.get("retry-after")).toBeNull();
    expect(refusal.response.headers.get("retry-after-ms")).toBeNull();
    expect(refusal.error.message).toContain("will not free up");
    // Waiting does not help either.
    await shiftClock(key.token, 3_600_000);
    expect((await refused(await chat(key.key))).error.code).toBe("budget_exceeded");
  });

  it("a budget whose budget_duration resets within 60 s: x-should-retry true, retry-after-ms = time until budget_reset_at", async () => {
    const key = await createKey({ max_budget: nanosToUsd(ONE_CALL_BUDGET), budget_duration: "30s" });
    await ok(await chat(key.key));
    const info = await settled(key.key);
    const resetAt = Date.parse(info.budget_reset_at);
    const before = Date.now();
    const refusal = await refused(await chat(key.key));
    const after = Date.now();
    expectOpenAiShape(refusal);
    expect(refusal.error.code).toBe("budget_exceeded");
    expect(refusal.response.headers.get("x-should-retry")).toBe("true");
    expect(refusal.retryMs).toBeLessThanOrEqual(resetAt - before + 50);
    expect(refusal.retryMs).toBeGreaterThanOrEqual(resetAt - after - 50);
    expect(refusal.error.message).toContain(`frees in ${formatDuration(refusal.retryMs!)}`);
  });
});

describe("per-model limits", () => {
  const MODEL = "gpt-4o-mini";
  const OTHER = "gpt-4o";

  it("model_tpm_limit refuses that model with error.limit.model set, other models still pass", async () => {
    const limit = ESTIMATE + 1;
    const key = await createKey({ model_tpm_limit: { [MODEL]: limit } });
    const first = await ok(await chat(key.key));
    await settled(key.key);
    const refusal = await refused(await chat(key.key));
    expectOpenAiShape(refusal);
    expect(refusal.error.code).toBe("tpm_limit_exceeded");
    expect(refusal.error.limit).toEqual({
      scope: "key",
      name: "model_tpm_limit",
      limit,
      remaining: limit - first.usage.total_tokens,
      requested: ESTIMATE,
      resets_in_ms: refusal.retryMs,
      model: MODEL,
    });
    expect(refusal.error.message).toContain(`model '${MODEL}'`);
    expect(refusal.error.message).toContain(`model_tpm_limit is ${limit}`);
    await ok(await chat(key.key, { model: OTHER }));
    await ok(await chat(key.key, { model: OTHER }));
  });

  it("model_rpm_limit refuses that model with error.limit.model set, other models still pass", async () => {
    const key = await createKey({ model_rpm_limit: { [MODEL]: 1 } });
    await ok(await chat(key.key));
    const refusal = await refused(await chat(key.key));
    expectOpenAiShape(refusal);
    expect(refusal.error.code).toBe("rpm_limit_exceeded");
    expect(refusal.error.limit).toEqual({ scope: "key", name: "model_rpm_limit", limit: 1, remaining: 0, requested: 1, resets_in_ms: refusal.retryMs, model: MODEL });
    expect(refusal.error.message).toContain(`model '${MODEL}'`);
    await ok(await chat(key.key, { model: OTHER }));
    await ok(await chat(key.key, { model: OTHER }));
  });

  it("model_max_budget refuses that model with budget_exceeded and error.limit.model set, other models still pass", async () => {
    const key = await createKey({ model_max_budget: { [MODEL]: { budget_limit: nanosToUsd(ONE_CALL_BUDGET) } } });
    const first = await ok(await chat(key.key));
    await settled(key.key);
    const spent = costOf(PRICE, { prompt: first.usage.prompt_tokens, completion: first.usage.completion_tokens });
    const refusal = await refused(await chat(key.key));
    expectOpenAiShape(refusal);
    expect(refusal.error.type).toBe("budget_exceeded");
    expect(refusal.error.code).toBe("budget_exceeded");
    expect(refusal.error.limit).toEqual({
      scope: "key",
      name: "model_max_budget",
      limit: nanosToUsd(ONE_CALL_BUDGET),
      remaining: nanosToUsd(ONE_CALL_BUDGET - spent),
      requested: nanosToUsd(ESTIMATE_COST),
      resets_in_ms: null,
      model: MODEL,
    });
    expect(refusal.response.headers.get("x-should-retry")).toBe("false");
    await ok(await chat(key.key, { model: OTHER }));
  });
});

describe("a model without a known price", () => {
  const PRIVATE = "my-private-model";

  it("is refused with 400 model_price_unknown when the key has a max_budget, and nothing is reserved", async () => {
    const key = await createKey({ max_budget: 10 });
    const response = await chat(key.key, { model: PRIVATE });
    expect(response.status).toBe(400);
    const { error } = await json(response);
    expect(error.type).toBe("invalid_request_error");
    expect(error.code).toBe("model_price_unknown");
    expect(error.param).toBe("model");
    const info = await keyInfo(key.key);
    expect(info.usage).toMatchObject({ in_flight: 0, requests: 0, tokens: 0, reserved_tokens: 0 });
    await ok(await chat(key.key));
  });

  it("is refused when only that model has a model_max_budget", async () => {
    const key = await createKey({ model_max_budget: { [PRIVATE]: { budget_limit: 5 } } });
    const response = await chat(key.key, { model: PRIVATE });
    expect(response.status).toBe(400);
    expect((await json(response)).error.code).toBe("model_price_unknown");
  });

  it("is admitted when the key has no budget", async () => {
    const key = await createKey({ rpm_limit: 10, tpm_limit: 10_000, model_max_budget: { "gpt-4o": { budget_limit: 5 } } });
    const response = await chat(key.key, { model: PRIVATE });
    expect(response.headers.get("x-edgequota-cost")).toBe("unknown");
    expect(response.headers.get("x-litellm-response-cost")).toBeNull();
    const body = await ok(response);
    const info = await settled(key.key);
    expect(info.usage.tokens).toBe(body.usage.total_tokens);
    expect(info.spend).toBe(0);
  });
});
