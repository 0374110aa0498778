import { afterEach, describe, expect, it, vi } from "vitest";
import { costOf, nanosToUsd } from "../../src/limiter";
import { priceOf } from "../../src/pricing/price-of";
import { chatPrompt } from "../helpers/default-request";
import { createKey, json, keyInfo, settled } from "../helpers/gateway";
import { fakeUpstream, nanos, post, spendLogs, UPSTREAM } from "../helpers/proxy";

// Upstream 500s and 429s from the embedded mock, clients that vanish, and streams the upstream cuts are in
// test/admission/leaks.test.ts. Here: faults of a configured upstream (the network itself, via a fetch spy)
// and the upstream timeout.

afterEach(() => vi.restoreAllMocks());

const MESSAGES = [{ role: "user", content: "hello from the fault tests" }];
const MAX_TOKENS = 10;
const BODY = { model: "gpt-4o-mini", messages: MESSAGES, max_tokens: MAX_TOKENS };
const PROMPT_ESTIMATE = (await chatPrompt(MESSAGES));
const ESTIMATE_TOKENS = PROMPT_ESTIMATE + MAX_TOKENS;
const ESTIMATE_USD = nanosToUsd(costOf((await priceOf("gpt-4o-mini", {}))!.price, { prompt: PROMPT_ESTIMATE, completion: MAX_TOKENS }));
const LIMITS = { tpm_limit: 100_000, rpm_limit: 100, max_parallel_requests: 5, max_budget: 10 };

function expectNothingReserved(info: Record<string, any>): void {
  expect(info.usage.in_flight).toBe(0);
  expect(info.usage.reserved_tokens).toBe(0);
  expect(info.usage.reserved_spend).toBe(0);
}

async function expectLedgerSumsToSpend(key: string, info: Record<string, any>): Promise<void> {
  const lines = await spendLogs(key);
  expect(lines.reduce((sum, line) => sum + nanos(line.spend), 0)).toBe(nanos(info.spend));
}

describe("a configured upstream that cannot be reached", () => {
  it("answers 502 upstream_unreachable and releases the reservation", async () => {
    const key = await createKey(LIMITS);
    const seen = fakeUpstream(() => {
      throw new TypeError("Network connection lost: connection refused");
    });
    const response = await post(UPSTREAM, "/v1/chat/completions", key.key, BODY);
    expect(seen).toHaveLength(1);
    expect(response.status).toBe(502);
    const { error } = await json(response);
    expect(error.type).toBe("upstream_error");
    expect(error.code).toBe("upstream_unreachable");
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(0);
    expect(info.spend).toBe(0);
    const [line] = await spendLogs(key.key);
    expect(line).toMatchObject({ outcome: "released", spend: 0, total_tokens: 0 });
  });
});

describe("an upstream that does not answer in time", () => {
  it("answers 504 upstream_timeout within the timeout and charges the reservation at its estimate", async () => {
    const key = await createKey(LIMITS);
    const started = Date.now();
    const response = await post({ UPSTREAM_TIMEOUT_MS: "200" }, "/v1/chat/completions", key.key, BODY, { "x-mock-latency-ms": "2000" });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(response.status).toBe(504);
    const { error } = await json(response);
    expect(error.code).toBe("upstream_timeout");
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(ESTIMATE_TOKENS);
    expect(info.spend).toBe(ESTIMATE_USD);
    await expectLedgerSumsToSpend(key.key, info);
  });

  it("ends a stream that hangs past the timeout and settles it with what was streamed", async () => {
    const key = await createKey(LIMITS);
    const started = Date.now();
    // 50 chunks 150 ms apart would take 7.5 s; the 600 ms timeout covers the streamed body too.
    const response = await post(
      { UPSTREAM_TIMEOUT_MS: "600" },
      "/v1/chat/completions",
      key.key,
      { ...BODY, max_tokens: 50, stream: true },
      { "x-mock-chunk-delay-ms": "150" },
    );
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let ended: "done" | "error" = "done";
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      ended = "error";
    }
    expect(["done", "error"]).toContain(ended);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(text).not.toContain("[DONE]");
    const streamed = (text.match(/"content":"tok "/g) ?? []).length;
    expect(streamed).toBeGreaterThan(0);
    expect(streamed).toBeLessThan(50);
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBeGreaterThanOrEqual(PROMPT_ESTIMATE + streamed);
    expect(info.usage.tokens).toBeLessThanOrEqual(PROMPT_ESTIMATE + 50);
    expect(info.spend).toBeGreaterThan(0);
    await expectLedgerSumsToSpend(key.key, info);
  });
});

describe("an upstream that answers with garbage", () => {
  it("answers 502 upstream_invalid_response for a 200 that is not JSON, charges the estimate, ledger sums to spend", async () => {
    const key = await createKey(LIMITS);
    fakeUpstream(() => new Response("<html>502 Bad Gateway from some proxy</html>", { status: 200, headers: { "content-type": "application/json" } }));
    const response = await post(UPSTREAM, "/v1/chat/completions", key.key, BODY);
    expect(response.status).toBe(502);
    expect((await json(response)).error.code).toBe("upstream_invalid_response");
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(ESTIMATE_TOKENS);
    expect(info.spend).toBe(ESTIMATE_USD);
    await expectLedgerSumsToSpend(key.key, info);
  });
});

describe("upstream error statuses", () => {
  it("turns an upstream 503 into 502 marked x-edgequota-upstream-status: 503 and releases the reservation", async () => {
    const key = await createKey(LIMITS);
    fakeUpstream(() => Response.json({ error: { message: "overloaded", type: "server_error", code: null } }, { status: 503 }));
    const response = await post(UPSTREAM, "/v1/chat/completions", key.key, BODY);
    expect(response.status).toBe(502);
    expect(response.headers.get("x-edgequota-upstream-status")).toBe("503");
    const { error } = await json(response);
    expect(error.type).toBe("upstream_error");
    expect(error.message).toContain("overloaded");
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(0);
    expect(info.spend).toBe(0);
  });

  it("passes an upstream 429 on as 429 upstream_rate_limited with the upstream's retry-after", async () => {
    const key = await createKey(LIMITS);
    fakeUpstream(
      () => Response.json({ error: { message: "slow down", type: "rate_limit_error", code: "rate_limit_exceeded" } }, { status: 429, headers: { "retry-after": "17" } }),
    );
    const response = await post(UPSTREAM, "/v1/chat/completions", key.key, BODY);
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("17");
    expect(response.headers.get("x-edgequota-upstream-status")).toBe("429");
    const { error } = await json(response);
    expect(error.code).toBe("upstream_rate_limited");
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(0);
    expect(info.spend).toBe(0);
    // The key's own limits were not what refused: its next call goes through.
    fakeUpstream();
    const next = await post(UPSTREAM, "/v1/chat/completions", key.key, BODY);
    expect(next.status).toBe(200);
    await next.text();
    expect((await settled(key.key)).usage.requests).toBe(2);
    expect((await keyInfo(key.key)).usage.in_flight).toBe(0);
  });
});

describe("fault responses name the call they ended", () => {
  // The 4xx/5xx path (upstreamError) copies the call's headers (x-litellm-call-id, x-ratelimit-*) onto the
  // response; the ApiErrors src/routes/proxy/proxy.ts throws for an upstream failure (unreachable, timeout) and
  // for a body that is not JSON do not, so a client charged the estimate for a 504 cannot find its own call.
  it.each([
    ["unreachable (502)", UPSTREAM, {}, (): unknown => fakeUpstream(() => Promise.reject(new TypeError("connection refused")))],
    ["timeout (504)", { UPSTREAM_TIMEOUT_MS: "100" }, { "x-mock-latency-ms": "1000" }, (): unknown => undefined],
    ["garbage (502)", UPSTREAM, {}, (): unknown => fakeUpstream(() => new Response("not json", { status: 200 }))],
    ["upstream 503 (502)", UPSTREAM, {}, (): unknown => fakeUpstream(() => new Response("down", { status: 503 }))],
  ])("%s carries x-litellm-call-id equal to its spend log line's request_id", async (_, vars, headers, arrange) => {
    const key = await createKey(LIMITS);
    arrange();
    const response = await post(vars, "/v1/chat/completions", key.key, BODY, headers);
    expect(response.status).toBeGreaterThanOrEqual(500);
    await response.text();
    await settled(key.key);
    const [line] = await spendLogs(key.key);
    expect(line?.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get("x-litellm-call-id")).toBe(line!.request_id);
  });
});
