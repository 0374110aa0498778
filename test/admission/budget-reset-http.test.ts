import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { budgetEntry, costOf, nanosToUsd, WHOLE, type Budget } from "../../src/limiter";
import { priceOf } from "../../src/pricing/price-of";
import { chatPrompt } from "../helpers/default-request";
import { countPromptTokens } from "../../src/mock-upstream";
import { chat, createKey, json, keyInfo, settled, shiftClock } from "../helpers/gateway";

const PERIOD_MS = 30_000;
const PRICE = (await priceOf("gpt-4o-mini", {}))!.price;
/** The helper's default chat request and its worst-case cost (nano-dollars). */
const MESSAGES = [{ role: "user", content: "hello" }];
const MAX_TOKENS = 10;
const ESTIMATE_COST = costOf(PRICE, { prompt: await chatPrompt(MESSAGES), completion: MAX_TOKENS });

const stubOf = (token: string) => env.KEYS.get(env.KEYS.idFromName(token));

/** What the key object has persisted for its own budget, read without going through any access path. */
async function storedBudget(token: string): Promise<Budget | undefined> {
  return runInDurableObject(stubOf(token), (_instance, state) => state.storage.kv.get<Budget>(`limiter/${budgetEntry(WHOLE)}`));
}

/** One default chat call, settled; returns its real cost in USD. */
async function spendOnce(key: string, body: Record<string, unknown> = {}): Promise<number> {
  const response = await chat(key, body);
  const text = await response.text();
  expect(response.status, text).toBe(200);
  const { usage } = JSON.parse(text) as { usage: { prompt_tokens: number; completion_tokens: number } };
  await settled(key);
  return nanosToUsd(costOf(PRICE, { prompt: usage.prompt_tokens, completion: usage.completion_tokens }));
}

describe("budget_duration resets", () => {
  it("the alarm resets spend to 0 and moves budget_reset_at forward by exactly one period", async () => {
    const key = await createKey({ max_budget: 1, budget_duration: "30s" });
    const firstResetAt = Date.parse((await keyInfo(key.key)).budget_reset_at);
    const cost = await spendOnce(key.key);
    expect((await keyInfo(key.key)).spend).toBe(cost);

    await shiftClock(key.token, 31_000);
    expect(await runDurableObjectAlarm(stubOf(key.token))).toBe(true);
    // The alarm alone (no request, no /key/info) has reset and persisted the budget.
    expect(await storedBudget(key.token)).toMatchObject({ spend: 0, resetAt: firstResetAt + PERIOD_MS });

    const info = await keyInfo(key.key);
    expect(info.spend).toBe(0);
    expect(Date.parse(info.budget_reset_at)).toBe(firstResetAt + PERIOD_MS);
  });

  it("the alarm is scheduled for the reset instant", async () => {
    const key = await createKey({ max_budget: 1, budget_duration: "30s" });
    const resetAt = Date.parse((await keyInfo(key.key)).budget_reset_at);
    await spendOnce(key.key);
    const alarm = await runInDurableObject(stubOf(key.token), (_instance, state) => state.storage.getAlarm());
    expect(alarm).toBe(resetAt);
  });

  it("without the alarm, the first access after the reset instant already sees spend 0", async () => {
    const key = await createKey({ max_budget: 1, budget_duration: "30s" });
    const firstResetAt = Date.parse((await keyInfo(key.key)).budget_reset_at);
    const cost = await spendOnce(key.key);
    await shiftClock(key.token, 31_000);
    const info = await keyInfo(key.key);
    expect(info.spend).toBe(0);
    expect(Date.parse(info.budget_reset_at)).toBe(firstResetAt + PERIOD_MS);
    // And the new period counts from zero.
    const next = await spendOnce(key.key);
    expect((await keyInfo(key.key)).spend).toBe(next);
    expect(next).toBe(cost);
  });

  it("spend is kept until the reset instant, not reset early", async () => {
    const key = await createKey({ max_budget: 1, budget_duration: "30s" });
    const cost = await spendOnce(key.key);
    await shiftClock(key.token, 25_000);
    expect((await keyInfo(key.key)).spend).toBe(cost);
  });

  it("a key refused for its used-up budget is admitted again after the reset, without the alarm", async () => {
    const key = await createKey({ max_budget: nanosToUsd(ESTIMATE_COST + 1), budget_duration: "30s" });
    await spendOnce(key.key);
    const refused = await chat(key.key);
    expect(refused.status).toBe(429);
    expect((await json(refused)).error.code).toBe("budget_exceeded");
    await shiftClock(key.token, 31_000);
    const again = await chat(key.key);
    expect(again.status).toBe(200);
    await again.text();
  });

  it("a late wake-up several periods on lands on the right boundary", async () => {
    const key = await createKey({ max_budget: 1, budget_duration: "30s" });
    const firstResetAt = Date.parse((await keyInfo(key.key)).budget_reset_at);
    await spendOnce(key.key);
    await shiftClock(key.token, 100_000);
    await runDurableObjectAlarm(stubOf(key.token));
    const info = await keyInfo(key.key);
    expect(info.spend).toBe(0);
    // 100 s after creation: boundaries at +30, +60, +90 s have passed; the next is +120 s.
    expect(Date.parse(info.budget_reset_at)).toBe(firstResetAt + 3 * PERIOD_MS);
  });
});

describe("soft_budget", () => {
  it("records the first crossing in soft_budget_crossed_at and never blocks", async () => {
    const perCall = costOf(PRICE, { prompt: countPromptTokens({ messages: MESSAGES }, "/chat/completions"), completion: MAX_TOKENS });
    const key = await createKey({ soft_budget: nanosToUsd(perCall * 1.5) });
    expect((await keyInfo(key.key)).soft_budget_crossed_at).toBeNull();

    await spendOnce(key.key);
    expect((await keyInfo(key.key)).soft_budget_crossed_at).toBeNull();

    await spendOnce(key.key);
    const crossed = (await keyInfo(key.key)).soft_budget_crossed_at;
    expect(crossed).toEqual(expect.any(String));
    expect(Number.isNaN(Date.parse(crossed))).toBe(false);

    // Far past the soft budget: still admitted, and the first crossing is what stays recorded.
    for (let index = 0; index < 3; index++) await spendOnce(key.key);
    const info = await keyInfo(key.key);
    expect(info.soft_budget_crossed_at).toBe(crossed);
    expect(info.spend).toBeGreaterThan(info.soft_budget * 3);
  });

  it("never blocks even with a max_budget above it", async () => {
    const key = await createKey({ soft_budget: 1e-9, max_budget: 1 });
    for (let index = 0; index < 3; index++) await spendOnce(key.key);
    expect((await keyInfo(key.key)).soft_budget_crossed_at).not.toBeNull();
  });

  it("is cleared when the budget period resets", async () => {
    const key = await createKey({ soft_budget: 1e-9, budget_duration: "30s" });
    await spendOnce(key.key);
    expect((await keyInfo(key.key)).soft_budget_crossed_at).not.toBeNull();
    await shiftClock(key.token, 31_000);
    expect((await keyInfo(key.key)).soft_budget_crossed_at).toBeNull();
  });
});
