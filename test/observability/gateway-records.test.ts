import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sha256Hex } from "../../src/crypto/secret";
import { BLOBS, dataPoint, DOUBLES } from "../../src/observability/call-record";
import { DATABASE_SOURCE } from "../../src/pricing/database";
import { mockPromptTokens } from "../helpers/default-request";
import { createKey, json, settled } from "../helpers/gateway";
import { NANO_PRICES, post, usdFor } from "../helpers/proxy";

afterEach(() => vi.restoreAllMocks());

/** A stand-in for the Analytics Engine binding that keeps what is written. */
function fakeAnalytics(write?: (point: AnalyticsEngineDataPoint) => void) {
  const points: AnalyticsEngineDataPoint[] = [];
  const writeDataPoint = vi.fn((point?: AnalyticsEngineDataPoint) => {
    write?.(point!);
    points.push(point!);
  });
  return { points, writeDataPoint, vars: { ANALYTICS: { writeDataPoint } } as unknown as Record<string, string> };
}

/** A data point read back by field name, as the SQL API's blob<n>/double<n> columns would show it. */
function fields(point: AnalyticsEngineDataPoint): Record<string, unknown> {
  const named: Record<string, unknown> = { token: point.indexes?.[0] };
  BLOBS.forEach((field, at) => (named[field] = point.blobs?.[at]));
  DOUBLES.forEach((field, at) => (named[field] = point.doubles?.[at]));
  return named;
}

/** Records are written after the answer (a stream's at its end): wait for `count`, then make sure no more come. */
async function pointsOf(analytics: { points: AnalyticsEngineDataPoint[] }, count: number, key?: string): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + 5000;
  while (analytics.points.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  if (key) await settled(key);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(analytics.points).toHaveLength(count);
  return analytics.points.map(fields);
}

const MESSAGES = [{ role: "user", content: "The secret recipe is purple turnip soup." }];
const BODY = { model: "gpt-4o-mini", messages: MESSAGES, max_tokens: 10 };
const PROMPT = await mockPromptTokens(BODY, "/chat/completions");
const PRICE = NANO_PRICES["gpt-4o-mini"];

describe("every call of the gateway writes one data point", () => {
  it("a settled call: its key, team, model, endpoint, usage, cost and timings", async () => {
    const key = await createKey({ team_id: "observed-team" });
    const analytics = fakeAnalytics();
    const response = await post(analytics.vars, "/v1/chat/completions", key.key, { ...BODY, user: "alice" });
    expect(response.status).toBe(200);
    const callId = response.headers.get("x-litellm-call-id");
    await response.text();
    const [point] = await pointsOf(analytics, 1, key.key);
    expect(point).toMatchObject({
      token: await sha256Hex(key.key),
      team_id: "observed-team",
      model: "gpt-4o-mini",
      deployment: "",
      endpoint: "/chat/completions",
      outcome: "settled",
      reason: "",
      end_user: "alice",
      dialect: "openai",
      price_source: DATABASE_SOURCE,
      request_id: callId,
      status: 200,
      prompt_tokens: PROMPT,
      completion_tokens: 10,
      cache_read_tokens: 0,
      cache_write_tokens: 0,
      queue_ms: 0,
      stream: 0,
    });
    expect(point!.cost_usd).toBeCloseTo(usdFor(PRICE, PROMPT, 10), 12);
    expect(point!.latency_ms).toBeGreaterThanOrEqual(0);
    expect(point!.latency_ms).toBeLessThan(5000);
  });

  it("a streamed call: written when the stream ends, with the stream's usage", async () => {
    const key = await createKey();
    const analytics = fakeAnalytics();
    const response = await post(analytics.vars, "/v1/chat/completions", key.key, { ...BODY, stream: true, max_tokens: 6 }, { "x-mock-chunk-delay-ms": "20" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const started = Date.now();
    await response.text();
    const [point] = await pointsOf(analytics, 1, key.key);
    expect(point).toMatchObject({ outcome: "settled", status: 200, stream: 1, prompt_tokens: PROMPT, completion_tokens: 6, reason: "" });
    expect(point!.cost_usd).toBeCloseTo(usdFor(PRICE, PROMPT, 6), 12);
    // The latency runs to the end of the stream, not to its first byte (about 9 events 20 ms apart).
    expect(point!.latency_ms).toBeGreaterThanOrEqual(100);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("a 429 refusal: outcome refused, the limit as reason, no usage", async () => {
    const key = await createKey({ rpm_limit: 1 });
    const analytics = fakeAnalytics();
    expect((await post(analytics.vars, "/v1/chat/completions", key.key, BODY)).status).toBe(200);
    const refused = await post(analytics.vars, "/v1/chat/completions", key.key, BODY);
    expect(refused.status).toBe(429);
    expect((await json(refused)).error.code).toBe("rpm_limit_exceeded");
    const [, point] = await pointsOf(analytics, 2, key.key);
    expect(point).toMatchObject({
      token: await sha256Hex(key.key),
      outcome: "refused",
      status: 429,
      reason: "key:rpm_limit",
      model: "gpt-4o-mini",
      team_id: "",
      deployment: "",
      prompt_tokens: 0,
      completion_tokens: 0,
      cost_usd: 0,
      price_source: "",
      stream: 0,
    });
    expect(point!.request_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("a refusal before admission (an invalid body) and one at admission (an unknown key)", async () => {
    const key = await createKey();
    const analytics = fakeAnalytics();
    const invalid = await post(analytics.vars, "/v1/chat/completions", key.key, { model: "gpt-4o-mini", messages: "not a list" });
    expect(invalid.status).toBe(400);
    const unknown = await post(analytics.vars, "/v1/chat/completions", "sk-not-a-key-of-this-gateway", BODY);
    expect(unknown.status).toBe(401);
    const [badBody, badKey] = await pointsOf(analytics, 2);
    expect(badBody).toMatchObject({ outcome: "refused", status: 400, reason: (await json(invalid)).error.code, model: "" });
    expect(badKey).toMatchObject({ outcome: "refused", status: 401, reason: "invalid_api_key", token: await sha256Hex("sk-not-a-key-of-this-gateway") });
  });

  it("an upstream error: the reservation released, the upstream's status as reason", async () => {
    const key = await createKey();
    const analytics = fakeAnalytics();
    const response = await post(analytics.vars, "/v1/chat/completions", key.key, BODY, { "x-mock-status": "500" });
    expect(response.status).toBe(502);
    await response.text();
    const [point] = await pointsOf(analytics, 1, key.key);
    expect(point).toMatchObject({ outcome: "released", status: 502, reason: "upstream_500", prompt_tokens: 0, completion_tokens: 0, cost_usd: 0 });
  });

  it("an upstream timeout: charged at its estimate, which the data point shows", async () => {
    const key = await createKey();
    const analytics = fakeAnalytics();
    const response = await post({ ...analytics.vars, UPSTREAM_TIMEOUT_MS: "100" }, "/v1/chat/completions", key.key, BODY, { "x-mock-latency-ms": "1000" });
    expect(response.status).toBe(504);
    await response.text();
    const [point] = await pointsOf(analytics, 1, key.key);
    expect(point).toMatchObject({ outcome: "charged_estimate", status: 504, reason: "upstream_timeout", prompt_tokens: PROMPT, completion_tokens: 10 });
    expect(point!.cost_usd).toBeCloseTo(usdFor(PRICE, PROMPT, 10), 12);
  });

  it("Anthropic's Messages endpoint is named as such", async () => {
    const key = await createKey();
    const analytics = fakeAnalytics();
    const response = await post(analytics.vars, "/v1/messages", key.key, { model: "claude-sonnet-4-20250514", max_tokens: 8, messages: MESSAGES });
    expect(response.status).toBe(200);
    await response.text();
    const [point] = await pointsOf(analytics, 1, key.key);
    expect(point).toMatchObject({ endpoint: "/messages", dialect: "anthropic", model: "claude-sonnet-4-20250514", outcome: "settled", completion_tokens: 8 });
  });
});

describe("the log line of a call", () => {
  it("is one JSON line per call with the record, and holds neither the key's secret nor the prompt", async () => {
    const key = await createKey();
    const analytics = fakeAnalytics();
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    const response = await post(analytics.vars, "/v1/chat/completions", key.key, BODY);
    const callId = response.headers.get("x-litellm-call-id")!;
    await response.text();
    await pointsOf(analytics, 1, key.key);
    const ours = lines.filter((line) => line.includes(callId));
    expect(ours).toHaveLength(1);
    const record = JSON.parse(ours[0]!) as Record<string, unknown>;
    expect(record).toMatchObject({ event: "edgequota.call", request_id: callId, token: await sha256Hex(key.key), outcome: "settled", status: 200 });
    for (const line of lines) {
      expect(line).not.toContain(key.key);
      expect(line).not.toContain("purple turnip");
    }
  });
});

describe("a failing Analytics Engine binding", () => {
  it("does not break the call: the answer, settlement and log line are unaffected", async () => {
    const key = await createKey();
    const analytics = fakeAnalytics(() => {
      throw new Error("dataset unavailable");
    });
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const logs = vi.spyOn(console, "log").mockImplementation(() => {});
    const response = await post(analytics.vars, "/v1/chat/completions", key.key, BODY);
    expect(response.status).toBe(200);
    expect((await json(response)).usage.completion_tokens).toBe(10);
    const deadline = Date.now() + 5000;
    while (analytics.writeDataPoint.mock.calls.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(analytics.writeDataPoint).toHaveBeenCalledTimes(1);
    const info = await settled(key.key);
    expect(info.usage.tokens).toBe(PROMPT + 10);
    expect(errors).toHaveBeenCalledWith("analytics data point not written:", "dataset unavailable");
    expect(logs.mock.calls.some(([line]) => typeof line === "string" && line.includes('"event":"edgequota.call"'))).toBe(true);
  });

  it("nor does a refused call's", async () => {
    const key = await createKey({ rpm_limit: 0 });
    const analytics = fakeAnalytics(() => {
      throw new Error("dataset unavailable");
    });
    vi.spyOn(console, "error").mockImplementation(() => {});
    vi.spyOn(console, "log").mockImplementation(() => {});
    const response = await post(analytics.vars, "/v1/chat/completions", key.key, BODY);
    expect(response.status).toBe(429);
    expect((await json(response)).error.code).toBe("request_exceeds_limit");
  });
});

describe("the ANALYTICS binding of wrangler.toml", () => {
  it("is bound (locally simulated) and takes the gateway's data points", async () => {
    const analytics = (env as { ANALYTICS?: AnalyticsEngineDataset }).ANALYTICS;
    expect(typeof analytics?.writeDataPoint).toBe("function");
    const point = dataPoint({
      token: await sha256Hex("sk-example"),
      team_id: null,
      end_user: null,
      model: "gpt-4o-mini",
      deployment: null,
      endpoint: "/chat/completions",
      dialect: "openai",
      outcome: "settled",
      status: 200,
      reason: null,
      prompt_tokens: 1,
      completion_tokens: 1,
      cache_read_tokens: 0,
      cache_write_tokens: 0,
      cost_usd: 0,
      price_source: null,
      queue_ms: 0,
      latency_ms: 1,
      stream: false,
      request_id: "r",
    });
    expect(() => analytics!.writeDataPoint(point)).not.toThrow();
  });
});
