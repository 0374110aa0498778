import { describe, expect, it } from "vitest";
import { costOf, nanosToUsd } from "../../src/limiter";
import { priceOf } from "../../src/pricing/price-of";
import { chatPrompt } from "../helpers/default-request";
import { chat, createKey, json, keyInfo, settled, shiftClock } from "../helpers/gateway";

const MODEL = "gpt-4o-mini";
const OTHER = "gpt-4o";
const MESSAGES = [{ role: "user", content: "hello" }];
const MAX_TOKENS = 10;
const PRICE = (await priceOf(MODEL, {}))!.price;
const ESTIMATE_COST = costOf(PRICE, { prompt: await chatPrompt(MESSAGES), completion: MAX_TOKENS });

async function status(response: Response): Promise<number> {
  await response.text();
  return response.status;
}

async function refusal(response: Response): Promise<{ error: Record<string, any>; retryMs: number | null; shouldRetry: string | null }> {
  expect(response.status).toBe(429);
  const { error } = await json(response);
  const raw = response.headers.get("retry-after-ms");
  return { error, retryMs: raw === null ? null : Number(raw), shouldRetry: response.headers.get("x-should-retry") };
}

describe("per-model limits on top of the key's own", () => {
  it("a model_rpm_limit refusal frees exactly at its retry-after-ms", async () => {
    const key = await createKey({ model_rpm_limit: { [MODEL]: 1 } });
    expect(await status(await chat(key.key))).toBe(200);
    const first = await refusal(await chat(key.key));
    expect(first.error.limit.name).toBe("model_rpm_limit");
    await shiftClock(key.token, first.retryMs! - 1_000);
    expect((await refusal(await chat(key.key))).error.limit.model).toBe(MODEL);
    await shiftClock(key.token, 1_005);
    expect(await status(await chat(key.key))).toBe(200);
  });

  it("calls to a limited model still count against the key's own rpm_limit", async () => {
    const key = await createKey({ rpm_limit: 2, model_rpm_limit: { [MODEL]: 5 } });
    expect(await status(await chat(key.key))).toBe(200);
    expect(await status(await chat(key.key, { model: OTHER }))).toBe(200);
    const refused = await refusal(await chat(key.key));
    expect(refused.error.limit).toMatchObject({ name: "rpm_limit", model: null, limit: 2 });
  });

  it("a refused model call consumes nothing, neither for the model nor for the key", async () => {
    const key = await createKey({ tpm_limit: 10_000, model_rpm_limit: { [MODEL]: 1 } });
    expect(await status(await chat(key.key))).toBe(200);
    await settled(key.key);
    const before = await keyInfo(key.key);
    for (let index = 0; index < 3; index++) await refusal(await chat(key.key));
    const after = await keyInfo(key.key);
    expect(after.usage.requests).toBe(before.usage.requests);
    expect(after.usage.tokens).toBe(before.usage.tokens);
    expect(after.usage.models[MODEL].window.requests).toBe(1);
  });

  it("/key/info shows each limited model's own window next to the key's", async () => {
    const key = await createKey({ model_tpm_limit: { [MODEL]: 1_000 }, model_rpm_limit: { [MODEL]: 10 } });
    const mine = await json(await chat(key.key));
    await json(await chat(key.key, { model: OTHER }));
    const info = await settled(key.key);
    expect(info.usage.models[MODEL].window).toMatchObject({ requests: 1, tokens: mine.usage.total_tokens, tpm_limit: 1_000, rpm_limit: 10 });
    expect(info.usage.requests).toBe(2);
  });

  it("when the key's and the model's limits both refuse, the longer wait is reported", async () => {
    const key = await createKey({ rpm_limit: 2, model_rpm_limit: { [MODEL]: 1 } });
    expect(await status(await chat(key.key, { model: OTHER }))).toBe(200);
    await shiftClock(key.token, 20_000);
    expect(await status(await chat(key.key))).toBe(200);
    // The key frees a slot in ~40 s (its first call is 20 s old); the model only in ~60 s.
    const refused = await refusal(await chat(key.key));
    expect(refused.error.limit).toMatchObject({ name: "model_rpm_limit", model: MODEL });
    expect(refused.retryMs).toBeGreaterThan(59_000);
    expect(refused.retryMs).toBeLessThanOrEqual(60_100);
    await shiftClock(key.token, refused.retryMs! + 5);
    expect(await status(await chat(key.key))).toBe(200);
  });
});

describe("model_max_budget with a time_period", () => {
  it("refuses with a retry hint equal to the time until the model budget resets, then admits after it", async () => {
    const key = await createKey({ model_max_budget: { [MODEL]: { budget_limit: nanosToUsd(ESTIMATE_COST + 1), time_period: "30s" } } });
    const info0 = await keyInfo(key.key);
    const resetAt = Date.parse(info0.usage.models[MODEL].budget_reset_at);
    expect(await status(await chat(key.key))).toBe(200);
    await settled(key.key);
    const before = Date.now();
    const refused = await refusal(await chat(key.key));
    expect(refused.error.limit).toMatchObject({ name: "model_max_budget", model: MODEL });
    expect(refused.shouldRetry).toBe("true");
    expect(refused.retryMs).toBeLessThanOrEqual(resetAt - before + 50);
    expect(refused.retryMs).toBeGreaterThan(resetAt - before - 1_000);
    // Another model is unaffected meanwhile.
    expect(await status(await chat(key.key, { model: OTHER }))).toBe(200);
    await shiftClock(key.token, refused.retryMs! + 5);
    const info = await keyInfo(key.key);
    expect(info.usage.models[MODEL].spend).toBe(0);
    expect(Date.parse(info.usage.models[MODEL].budget_reset_at)).toBe(resetAt + 30_000);
    expect(await status(await chat(key.key))).toBe(200);
  });

  it("model spend also counts in the key's total spend", async () => {
    const key = await createKey({ max_budget: 1, model_max_budget: { [MODEL]: { budget_limit: 1 } } });
    const body = await json(await chat(key.key));
    const info = await settled(key.key);
    const cost = nanosToUsd(costOf(PRICE, { prompt: body.usage.prompt_tokens, completion: body.usage.completion_tokens }));
    expect(info.usage.models[MODEL].spend).toBe(cost);
    expect(info.spend).toBe(cost);
  });
});
