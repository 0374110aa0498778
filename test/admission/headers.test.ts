import { describe, expect, it } from "vitest";
import { formatDuration } from "../../src/http/duration-format";
import { chatPrompt, promptEstimateOf } from "../helpers/default-request";
import { call, chat, createKey, json, keyInfo, settled, shiftClock } from "../helpers/gateway";

const MESSAGES = [{ role: "user", content: "hello" }];
const MAX_TOKENS = 10;
/** What admission reserves for the default `chat` request of the helper. */
const CHAT_ESTIMATE = (await chatPrompt(MESSAGES)) + MAX_TOKENS;
const WINDOW_MS = 60_000;
/** Bucket width of a 60 s window: a request is counted until its bucket stamp (rounded up) leaves it. */
const BUCKET_MS = 100;
const OPENAI_DURATION = /^(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Reads OpenAI's duration format back to milliseconds. */
function parseDuration(text: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s|(\d+)ms)$/.exec(text);
  if (!match) throw new Error(`not an OpenAI duration: ${text}`);
  const [, hours, minutes, seconds, millis] = match;
  return Number(hours ?? 0) * 3_600_000 + Number(minutes ?? 0) * 60_000 + Math.round(Number(seconds ?? 0) * 1000) + Number(millis ?? 0);
}

function header(response: Response, name: string): string {
  const value = response.headers.get(name);
  if (value === null) throw new Error(`missing header ${name}`);
  return value;
}

/** A reset header: well-formed, and no earlier than what the key reports afterwards, no later than one window plus a bucket. */
function expectReset(response: Response, name: string, reportedAfterMs: number): void {
  const text = header(response, name);
  expect(text).toMatch(OPENAI_DURATION);
  const ms = parseDuration(text);
  expect(ms).toBeGreaterThanOrEqual(reportedAfterMs);
  expect(ms).toBeLessThanOrEqual(WINDOW_MS + BUCKET_MS);
}

const LIMITS = { rpm_limit: 5, tpm_limit: 1_000, max_budget: 1 };

/** One request per proxied endpoint, with what admission reserves for it. */
const ENDPOINTS = [
  { name: "chat completions", path: "/v1/chat/completions", body: { model: "gpt-4o-mini", messages: MESSAGES, max_tokens: 10 }, reserved: (await chatPrompt(MESSAGES)) + 10 },
  { name: "streamed chat completions", path: "/v1/chat/completions", body: { model: "gpt-4o-mini", messages: MESSAGES, max_tokens: 7, stream: true }, reserved: (await chatPrompt(MESSAGES)) + 7 },
  { name: "completions", path: "/v1/completions", body: { model: "gpt-3.5-turbo", prompt: "hello", max_tokens: 5 }, reserved: (await promptEstimateOf({ kind: "text", input: "hello" }, "gpt-3.5-turbo")) + 5 },
  { name: "embeddings", path: "/v1/embeddings", body: { model: "text-embedding-3-small", input: "hello" }, reserved: await promptEstimateOf({ kind: "text", input: "hello" }, "text-embedding-3-small") },
  { name: "responses", path: "/v1/responses", body: { model: "gpt-4o-mini", input: "hello", max_output_tokens: 6 }, reserved: (await promptEstimateOf({ kind: "responses", input: "hello" })) + 6 },
] as const;

describe("rate-limit headers on a proxied 200", () => {
  for (const endpoint of ENDPOINTS) {
    it(`${endpoint.name}: limit, remaining (this request's reservation included) and reset for requests and tokens`, async () => {
      const key = await createKey(LIMITS);
      const response = await call(endpoint.path, { token: key.key, body: endpoint.body });
      expect(response.status).toBe(200);
      await response.text();
      expect(header(response, "x-ratelimit-limit-requests")).toBe("5");
      expect(header(response, "x-ratelimit-remaining-requests")).toBe("4");
      expect(header(response, "x-ratelimit-limit-tokens")).toBe("1000");
      expect(header(response, "x-ratelimit-remaining-tokens")).toBe(String(1_000 - endpoint.reserved));
      expect(header(response, "x-litellm-key-rpm-limit")).toBe("5");
      expect(header(response, "x-litellm-key-tpm-limit")).toBe("1000");
      expect(header(response, "x-litellm-call-id")).toMatch(UUID);
      expect(header(response, "x-litellm-key-max-budget")).toBe("1");
      const spendHeader = Number(header(response, "x-litellm-key-spend"));
      const info = await settled(key.key);
      expect(spendHeader).toBeGreaterThanOrEqual(0);
      expect(spendHeader).toBeLessThanOrEqual(info.spend);
      expectReset(response, "x-ratelimit-reset-requests", info.usage.requests_reset_ms);
      expectReset(response, "x-ratelimit-reset-tokens", info.usage.tokens_reset_ms);
    });
  }

  it("the second request's remaining counts the first one's real usage plus its own reservation", async () => {
    const key = await createKey(LIMITS);
    const first = await chat(key.key);
    const firstBody = await json(first);
    await settled(key.key);
    const second = await chat(key.key);
    const secondBody = await json(second);
    expect(second.status).toBe(200);
    expect(header(second, "x-ratelimit-remaining-requests")).toBe("3");
    expect(header(second, "x-ratelimit-remaining-tokens")).toBe(String(1_000 - firstBody.usage.total_tokens - CHAT_ESTIMATE));
    const info = await settled(key.key);
    expect(info.usage.tokens).toBe(firstBody.usage.total_tokens + secondBody.usage.total_tokens);
    expect(info.usage.requests).toBe(2);
  });

  it("x-litellm-key-spend is the key's spend including this call, and x-litellm-response-cost this call's cost", async () => {
    const key = await createKey({ max_budget: 2.5 });
    const first = await chat(key.key);
    await first.text();
    const afterFirst = await settled(key.key);
    expect(afterFirst.spend).toBeGreaterThan(0);
    expect(header(first, "x-litellm-key-spend")).toBe(String(afterFirst.spend));
    expect(header(first, "x-litellm-response-cost")).toBe(String(afterFirst.spend));
    expect(header(first, "x-litellm-key-max-budget")).toBe("2.5");

    const second = await chat(key.key, { max_tokens: 3 });
    await second.text();
    const afterSecond = await settled(key.key);
    expect(afterSecond.spend).toBeGreaterThan(afterFirst.spend);
    expect(header(second, "x-litellm-key-spend")).toBe(String(afterSecond.spend));
  });

  it("every call gets its own x-litellm-call-id", async () => {
    const key = await createKey();
    const ids = new Set<string>();
    for (let index = 0; index < 3; index++) {
      const response = await chat(key.key);
      await response.text();
      ids.add(header(response, "x-litellm-call-id"));
    }
    expect(ids.size).toBe(3);
    for (const id of ids) expect(id).toMatch(UUID);
  });

  it("no budget headers when the key has no max_budget", async () => {
    const key = await createKey({ rpm_limit: 5, soft_budget: 1 });
    const response = await chat(key.key);
    expect(response.status).toBe(200);
    await response.text();
    expect(response.headers.get("x-litellm-key-spend")).toBeNull();
    expect(response.headers.get("x-litellm-key-max-budget")).toBeNull();
    expect(response.headers.get("x-litellm-call-id")).toMatch(UUID);
  });

  it("no x-ratelimit-*-tokens headers when the key has no tpm_limit", async () => {
    const key = await createKey({ rpm_limit: 5 });
    const response = await chat(key.key);
    expect(response.status).toBe(200);
    await response.text();
    for (const name of ["x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens", "x-litellm-key-tpm-limit"]) {
      expect(response.headers.get(name), name).toBeNull();
    }
    expect(header(response, "x-ratelimit-remaining-requests")).toBe("4");
  });

  it("no x-ratelimit-*-requests headers when the key has no rpm_limit", async () => {
    const key = await createKey({ tpm_limit: 1_000 });
    const response = await chat(key.key);
    await response.text();
    for (const name of ["x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", "x-litellm-key-rpm-limit"]) {
      expect(response.headers.get(name), name).toBeNull();
    }
    expect(header(response, "x-ratelimit-remaining-tokens")).toBe(String(1_000 - CHAT_ESTIMATE));
  });

  it("no x-ratelimit-* headers at all for a key without limits", async () => {
    const key = await createKey();
    const response = await chat(key.key);
    await response.text();
    expect([...response.headers.keys()].filter((name) => name.startsWith("x-ratelimit-"))).toEqual([]);
  });

  it("the reset header is when the window is fully drained, so a later request pushes it a whole window out", async () => {
    const key = await createKey({ rpm_limit: 5 });
    await (await chat(key.key)).text();
    await shiftClock(key.token, 20_000);
    const second = await chat(key.key);
    await second.text();
    // Requests: the last one leaves the window last, so the full reset is about a window away.
    expect(parseDuration(header(second, "x-ratelimit-reset-requests"))).toBeGreaterThan(WINDOW_MS - 1_000);
    const info = await keyInfo(key.key);
    expect(info.usage.requests).toBe(2);
  });
});

describe("formatDuration (OpenAI's reset format)", () => {
  it.each([
    [12, "12ms"],
    [0, "0ms"],
    [999, "999ms"],
    [1_000, "1s"],
    [1_500, "1.5s"],
    [59_999, "59.999s"],
    [60_000, "1m0s"],
    [360_000, "6m0s"],
    [3_600_000, "1h0m0s"],
    [23 * 3_600_000 + 47 * 60_000 + 36_648, "23h47m36.648s"],
  ])("%d ms is %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("rounds fractional milliseconds up, never down to an earlier time", () => {
    expect(formatDuration(11.2)).toBe("12ms");
    expect(formatDuration(999.5)).toBe("1s");
  });

  it("always matches the OpenAI pattern and reads back to the same milliseconds", () => {
    for (let ms = 0; ms < 30 * 3_600_000; ms = Math.floor(ms * 1.7) + 7) {
      const text = formatDuration(ms);
      expect(text).toMatch(OPENAI_DURATION);
      expect(parseDuration(text)).toBe(ms);
    }
  });
});
