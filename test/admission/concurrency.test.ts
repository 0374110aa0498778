import { describe, expect, it } from "vitest";
import { chatPrompt } from "../helpers/default-request";
import { chat, createKey, json, settled } from "../helpers/gateway";

const MESSAGES = [{ role: "user", content: "count me exactly" }];
const MAX_TOKENS = 20;
/** What admission reserves for each of these requests. */
const ESTIMATE = (await chatPrompt(MESSAGES)) + MAX_TOKENS;
const SIMULTANEOUS = 200;
/** Long enough that every request is admitted or refused before the first one settles. */
const SLOW = { "x-mock-latency-ms": "3000" };

async function fire(key: string, headers: Record<string, string> = SLOW) {
  const responses = await Promise.all(
    Array.from({ length: SIMULTANEOUS }, () => chat(key, { messages: MESSAGES, max_tokens: MAX_TOKENS }, headers)),
  );
  const bodies = await Promise.all(responses.map((response) => json(response)));
  const ok = bodies.filter((_, index) => responses[index]!.status === 200);
  const refused = bodies.filter((_, index) => responses[index]!.status === 429);
  expect(ok.length + refused.length).toBe(SIMULTANEOUS);
  return { ok, refused, codes: new Set(refused.map((body) => body.error.code)) };
}

describe("200 simultaneous requests at one key", () => {
  it("admit exactly rpm_limit requests", async () => {
    const key = await createKey({ rpm_limit: 37 });
    const { ok, refused, codes } = await fire(key.key, {});
    expect(ok.length).toBe(37);
    expect(refused.length).toBe(SIMULTANEOUS - 37);
    expect(codes).toEqual(new Set(["rpm_limit_exceeded"]));
    const info = await settled(key.key);
    expect(info.usage.requests).toBe(37);
  });

  it("admit exactly as many token reservations as tpm_limit holds, and real usage stays under it", async () => {
    const fits = 23;
    const key = await createKey({ tpm_limit: ESTIMATE * fits + ESTIMATE - 1 });
    const { ok, codes } = await fire(key.key);
    expect(ok.length).toBe(fits);
    expect(codes).toEqual(new Set(["tpm_limit_exceeded"]));
    const info = await settled(key.key);
    const real = ok.reduce((sum, body) => sum + body.usage.total_tokens, 0);
    expect(info.usage.tokens).toBe(real);
    expect(info.usage.tokens).toBeLessThanOrEqual(ESTIMATE * fits + ESTIMATE - 1);
  });

  it("never run more than max_parallel_requests at once", async () => {
    const key = await createKey({ max_parallel_requests: 9 });
    const { ok, refused, codes } = await fire(key.key);
    expect(ok.length).toBe(9);
    expect(refused.length).toBe(SIMULTANEOUS - 9);
    expect(codes).toEqual(new Set(["max_parallel_requests_exceeded"]));
    expect((await settled(key.key)).usage.in_flight).toBe(0);
  });

  it("never let spend plus reserved cost pass max_budget", async () => {
    // gpt-4o-mini list price; the worst case of one request is its estimate at that price.
    const worstCase = (ESTIMATE - MAX_TOKENS) * 1.5e-7 + MAX_TOKENS * 6e-7;
    const fits = 31;
    const key = await createKey({ max_budget: worstCase * fits + worstCase / 2 });
    const { ok, refused, codes } = await fire(key.key);
    expect(ok.length).toBe(fits);
    expect(refused.every((body) => body.error.type === "budget_exceeded")).toBe(true);
    expect(codes).toEqual(new Set(["budget_exceeded"]));
    const info = await settled(key.key);
    expect(info.spend).toBeLessThanOrEqual(info.max_budget);
    const charged = ok.reduce((sum, body) => sum + body.usage.prompt_tokens * 1.5e-7 + body.usage.completion_tokens * 6e-7, 0);
    expect(info.spend).toBeCloseTo(charged, 9);
  });
});
