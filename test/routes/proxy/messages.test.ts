import { afterEach, describe, expect, it, vi } from "vitest";
import { countPromptTokens } from "../../../src/mock-upstream";
import { call, createKey, json, keyInfo, settled } from "../../helpers/gateway";
import { fakeUpstream, post, spendLogs, sseEvents, UPSTREAM } from "../../helpers/proxy";

// Anthropic's Messages API through the same admission as every other endpoint: x-api-key or Bearer auth,
// usage (cache fields included) from the answer or the stream, Anthropic's error envelope and headers.

afterEach(() => vi.restoreAllMocks());

const MODEL = "claude-sonnet-4-20250514";
/** claude-sonnet-4's list price in nano-dollars per token, written out so a wrong price table fails: $3/M in, $15/M out. */
const PRICE = { input: 3000, output: 15_000 };
const MESSAGES = [{ role: "user", content: "Write me a haiku about rate limits." }];
const SYSTEM = "You are terse.";
const BODY = { model: MODEL, max_tokens: 20, system: SYSTEM, messages: MESSAGES };
const PROMPT = countPromptTokens(BODY, "/v1/messages");

/** POST /v1/messages as `key` with x-api-key (what the Anthropic SDKs and Claude Code send); exactly max_tokens long. */
function messages(key: string, body: Record<string, unknown> = {}, headers: Record<string, string> = {}, path = "/v1/messages"): Promise<Response> {
  const request = { ...BODY, ...body };
  return call(path, {
    token: null,
    headers: { "x-api-key": key, "anthropic-version": "2023-06-01", "x-mock-completion-tokens": String(request.max_tokens), ...headers },
    body: request,
  });
}

function expectAnthropicError(body: Record<string, any>, type: string): void {
  expect(body.type).toBe("error");
  expect(body.error.type).toBe(type);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.message.length).toBeGreaterThan(0);
  // Not OpenAI's envelope: the Anthropic SDKs read error.type and error.message only.
  expect(body.error.param).toBeUndefined();
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

describe("POST /v1/messages: happy paths", () => {
  it("answers in Anthropic's shape, authenticated by x-api-key, and charges input and output at the model's price", async () => {
    const key = await createKey({ max_budget: 1 });
    const response = await messages(key.key);
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body.type).toBe("message");
    expect(body.role).toBe("assistant");
    expect(body.usage).toMatchObject({ input_tokens: PROMPT, output_tokens: 20 });
    const expected = (PROMPT * PRICE.input + 20 * PRICE.output) / 1e9;
    expect(Number(response.headers.get("x-litellm-response-cost"))).toBeCloseTo(expected, 12);
    const info = await settled(key.key);
    expect(info.spend).toBeCloseTo(expected, 12);
    expect(info.usage.tokens).toBe(PROMPT + 20);
    const [line] = await spendLogs(key.key);
    expect(line).toMatchObject({ prompt_tokens: PROMPT, completion_tokens: 20, outcome: "settled" });
    expect((line as any).price_source).toMatch(/^genai-prices@/);
  });

  it("is served without /v1 and with Authorization: Bearer (ANTHROPIC_AUTH_TOKEN) too", async () => {
    const key = await createKey();
    const response = await call("/messages", { token: key.key, body: BODY, headers: { "x-mock-completion-tokens": "5" } });
    expect(response.status).toBe(200);
    expect((await json(response)).usage.output_tokens).toBe(5);
  });

  it("sends Anthropic's rate-limit headers from the same snapshot as OpenAI's, resets as RFC 3339 times", async () => {
    const key = await createKey({ tpm_limit: 10_000, rpm_limit: 7 });
    const before = Date.now();
    const response = await messages(key.key);
    expect(response.status).toBe(200);
    const h = response.headers;
    expect(h.get("anthropic-ratelimit-requests-limit")).toBe("7");
    expect(h.get("anthropic-ratelimit-requests-remaining")).toBe(h.get("x-ratelimit-remaining-requests"));
    expect(h.get("anthropic-ratelimit-tokens-limit")).toBe("10000");
    expect(h.get("anthropic-ratelimit-tokens-remaining")).toBe(h.get("x-ratelimit-remaining-tokens"));
    expect(h.get("anthropic-ratelimit-input-tokens-remaining")).toBe(h.get("x-ratelimit-remaining-tokens"));
    expect(h.get("anthropic-ratelimit-output-tokens-limit")).toBe("10000");
    for (const kind of ["requests", "tokens", "input-tokens", "output-tokens"]) {
      const reset = h.get(`anthropic-ratelimit-${kind}-reset`)!;
      expect(reset).toMatch(RFC3339);
      const at = Date.parse(reset);
      expect(at).toBeGreaterThan(before - 1000);
      expect(at).toBeLessThanOrEqual(Date.now() + 61_000);
    }
    await settled(key.key);
  });

  it("passes anthropic-version and anthropic-beta through and calls the upstream with its own key, never the client's", async () => {
    const seen = fakeUpstream();
    const key = await createKey();
    const response = await post({ ...UPSTREAM, UPSTREAM_API_KEY: "sk-upstream-secret" }, "/v1/messages", key.key, BODY, {
      "anthropic-version": "2023-06-01",
      "anthropic-beta": "prompt-caching-2024-07-31",
    });
    expect(response.status).toBe(200);
    expect(seen).toHaveLength(1);
    const sent = seen[0]!.request;
    expect(new URL(sent.url).pathname).toBe("/v1/messages");
    expect(sent.headers.get("anthropic-version")).toBe("2023-06-01");
    expect(sent.headers.get("anthropic-beta")).toBe("prompt-caching-2024-07-31");
    expect(sent.headers.get("authorization")).toBe("Bearer sk-upstream-secret");
    expect(sent.headers.get("x-api-key")).toBeNull();
    expect(JSON.stringify([...sent.headers])).not.toContain(key.key);
  });

  it("streams events through as they arrive and settles from message_start and message_delta usage", async () => {
    const key = await createKey({ max_budget: 1 });
    const response = await messages(key.key, { stream: true, max_tokens: 12 });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const events = sseEvents(await response.text());
    const names = events.map((event) => event.event);
    expect(names[0]).toBe("message_start");
    expect(names.at(-1)).toBe("message_stop");
    expect(names.filter((name) => name === "content_block_delta")).toHaveLength(12);
    expect(names).toContain("message_delta");
    // Each event keeps its event: line and its data: payload, exactly as the upstream sent it.
    for (const event of events) expect(JSON.parse(event.data).type).toBe(event.event);
    const info = await settled(key.key);
    expect(info.usage.tokens).toBe(PROMPT + 12);
    expect(info.spend).toBeCloseTo((PROMPT * PRICE.input + 12 * PRICE.output) / 1e9, 12);
    expect(info.usage.reserved_spend).toBe(0);
  });

  it("settles a stream cut before message_delta with the prompt message_start reported plus what was streamed", async () => {
    const key = await createKey({ max_budget: 1 });
    const response = await messages(key.key, { stream: true, max_tokens: 50 }, { "x-mock-stream-truncate-after": "7" });
    expect(response.status).toBe(200);
    const names = sseEvents(await response.text()).map((event) => event.event);
    expect(names).not.toContain("message_delta");
    const info = await settled(key.key);
    expect(info.usage.in_flight).toBe(0);
    expect(info.usage.reserved_tokens).toBe(0);
    // Never zero, never the whole cap: the reported prompt and at least the 7 streamed tokens.
    expect(info.usage.tokens).toBeGreaterThanOrEqual(PROMPT + 7);
    expect(info.usage.tokens).toBeLessThan(PROMPT + 50);
    expect(info.spend).toBeGreaterThanOrEqual((PROMPT * PRICE.input + 7 * PRICE.output) / 1e9 - 1e-12);
  });

  it("charges cache reads and writes at their own rates and records them in the spend log", async () => {
    const key = await createKey({ max_budget: 1 });
    const big = [{ role: "user", content: [{ type: "text", text: "context ".repeat(3000), cache_control: { type: "ephemeral" } }] }];
    const prompt = countPromptTokens({ ...BODY, messages: big }, "/v1/messages");
    const response = await messages(key.key, { messages: big }, { "x-mock-cache-read-tokens": "1000", "x-mock-cache-write-tokens": "2000" });
    expect(response.status).toBe(200);
    const usage = (await json(response)).usage;
    expect(usage).toMatchObject({ cache_read_input_tokens: 1000, cache_creation_input_tokens: 2000, input_tokens: prompt - 3000 });
    const nanos = (prompt - 3000) * PRICE.input + 1000 * 300 + 2000 * 3750 + 20 * PRICE.output;
    const info = await settled(key.key);
    expect(info.spend).toBeCloseTo(nanos / 1e9, 12);
    const [line] = await spendLogs(key.key);
    expect(line).toMatchObject({ prompt_tokens: prompt, cache_read_input_tokens: 1000, cache_creation_input_tokens: 2000 });
  });
});

describe("POST /v1/messages: errors in Anthropic's envelope", () => {
  it("400 invalid_request_error without max_tokens, and no counter moves", async () => {
    const key = await createKey({ rpm_limit: 5, max_budget: 1 });
    const { max_tokens: _omitted, ...body } = BODY;
    const response = await call("/v1/messages", { token: null, headers: { "x-api-key": key.key }, body });
    expect(response.status).toBe(400);
    expectAnthropicError(await json(response), "invalid_request_error");
    const info = await keyInfo(key.key);
    expect(info.usage.requests).toBe(0);
    expect(info.spend).toBe(0);
  });

  it("400 invalid_request_error for a body that is not JSON", async () => {
    const key = await createKey();
    const response = await call("/v1/messages", { token: null, headers: { "x-api-key": key.key, "content-type": "application/json" }, rawBody: "{nope" });
    expect(response.status).toBe(400);
    expectAnthropicError(await json(response), "invalid_request_error");
  });

  it("401 authentication_error for an unknown or missing key", async () => {
    const unknown = await messages("sk-not-a-key-at-all");
    expect(unknown.status).toBe(401);
    expectAnthropicError(await json(unknown), "authentication_error");
    const missing = await call("/v1/messages", { token: null, body: BODY });
    expect(missing.status).toBe(401);
    expectAnthropicError(await json(missing), "authentication_error");
  });

  it("403 permission_error for a model the key may not use", async () => {
    const key = await createKey({ models: ["gpt-4o-mini"] });
    const response = await messages(key.key);
    expect(response.status).toBe(403);
    expectAnthropicError(await json(response), "permission_error");
  });

  it("404 not_found_error for an unknown path under /v1/messages", async () => {
    const key = await createKey();
    const response = await call("/v1/messages/batches/nope", { token: key.key });
    expect(response.status).toBe(404);
    expectAnthropicError(await json(response), "not_found_error");
  });

  it("429 rate_limit_error with retry-after, retry-after-ms and Anthropic's headers when the key's RPM is used up", async () => {
    const key = await createKey({ rpm_limit: 1 });
    expect((await messages(key.key)).status).toBe(200);
    const refused = await messages(key.key);
    expect(refused.status).toBe(429);
    const body = await json(refused);
    expectAnthropicError(body, "rate_limit_error");
    expect(body.error.limit).toMatchObject({ scope: "key", name: "rpm_limit", limit: 1, remaining: 0 });
    const wait = Number(refused.headers.get("retry-after-ms"));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(60_100);
    expect(refused.headers.get("retry-after")).toBe(String(Math.ceil(wait / 1000)));
    expect(refused.headers.get("x-should-retry")).toBe("true");
    expect(refused.headers.get("anthropic-ratelimit-requests-remaining")).toBe("0");
    expect(refused.headers.get("anthropic-ratelimit-requests-reset")).toMatch(RFC3339);
  });

  it("a budget that will not reset is a 429 the Anthropic SDKs do not retry (x-should-retry: false)", async () => {
    const key = await createKey({ max_budget: 0.000001 });
    const refused = await messages(key.key);
    expect(refused.status).toBe(429);
    const body = await json(refused);
    expectAnthropicError(body, "rate_limit_error");
    expect(body.error.limit.name).toBe("max_budget");
    expect(refused.headers.get("x-should-retry")).toBe("false");
    expect((await keyInfo(key.key)).spend).toBe(0);
  });

  it("passes an upstream error through in Anthropic's envelope, with its key redacted, and 529 stays 529", async () => {
    fakeUpstream(() =>
      new Response(JSON.stringify({ type: "error", error: { type: "authentication_error", message: "invalid x-api-key sk-upstream-secret" } }), {
        status: 401,
        headers: { "content-type": "application/json" },
      }),
    );
    const key = await createKey();
    const response = await post({ ...UPSTREAM, UPSTREAM_API_KEY: "sk-upstream-secret" }, "/v1/messages", key.key, BODY);
    expect(response.status).toBe(401);
    const body = await json(response);
    expectAnthropicError(body, "authentication_error");
    expect(JSON.stringify(body)).not.toContain("sk-upstream-secret");
    vi.restoreAllMocks();
    const overloaded = await messages(key.key, {}, { "x-mock-status": "529" });
    expect(overloaded.status).toBe(529);
    expectAnthropicError(await json(overloaded), "overloaded_error");
    expect((await settled(key.key)).usage.reserved_tokens).toBe(0);
  });
});

describe("POST /v1/messages: security", () => {
  it("refuses two different credentials (x-api-key and Bearer) as ambiguous", async () => {
    const [a, b] = await Promise.all([createKey(), createKey()]);
    const response = await call("/v1/messages", { token: a.key, headers: { "x-api-key": b.key }, body: BODY });
    expect(response.status).toBe(400);
    expectAnthropicError(await json(response), "invalid_request_error");
  });

  it("a deployment speaking Anthropic's API gets x-api-key with its own secret and an anthropic-version", async () => {
    const seen = fakeUpstream((request) => mockAnswer(request));
    const key = await createKey();
    const response = await call("/v1/messages", {
      token: null,
      headers: { "x-api-key": key.key },
      body: { ...BODY, model: "claude-direct" },
    });
    expect(response.status).toBe(200);
    const sent = seen[0]!.request;
    expect(new URL(sent.url).href).toBe("http://anthropic.test/v1/messages");
    expect(sent.headers.get("x-api-key")).toBe("sk-ant-deployment-secret");
    expect(sent.headers.get("authorization")).toBeNull();
    expect(sent.headers.get("anthropic-version")).toBe("2023-06-01");
    expect(seen[0]!.body.model).toBe(MODEL);
  });

  it("never routes an OpenAI-dialect call to a deployment that speaks only Anthropic's API", async () => {
    const seen = fakeUpstream();
    const key = await createKey();
    const response = await call("/v1/chat/completions", { token: key.key, body: { model: "claude-direct", messages: MESSAGES, max_tokens: 5 } });
    expect(response.status).toBe(503);
    expect((await json(response)).error.code).toBe("no_deployment_available");
    expect(seen).toHaveLength(0);
    expect((await settled(key.key)).usage.reserved_tokens).toBe(0);
  });
});

describe("POST /v1/messages/count_tokens", () => {
  it("passes through for a valid key and charges nothing", async () => {
    const key = await createKey({ rpm_limit: 1, max_budget: 1 });
    const { max_tokens: _cap, ...body } = BODY;
    for (let i = 0; i < 3; i++) {
      const response = await call("/v1/messages/count_tokens", { token: null, headers: { "x-api-key": key.key }, body });
      expect(response.status).toBe(200);
      expect((await json(response)).input_tokens).toBe(PROMPT);
    }
    const info = await keyInfo(key.key);
    expect(info.usage.requests).toBe(0);
    expect(info.spend).toBe(0);
    // The one request of the minute is still there for a real call.
    expect((await messages(key.key)).status).toBe(200);
  });

  it("applies the model allow-list and authenticates, in Anthropic's envelope", async () => {
    const key = await createKey({ models: ["gpt-4o-mini"] });
    const { max_tokens: _cap, ...body } = BODY;
    const denied = await call("/v1/messages/count_tokens", { token: null, headers: { "x-api-key": key.key }, body });
    expect(denied.status).toBe(403);
    expectAnthropicError(await json(denied), "permission_error");
    const unknown = await call("/v1/messages/count_tokens", { token: null, headers: { "x-api-key": "sk-unknown-key-123" }, body });
    expect(unknown.status).toBe(401);
    expectAnthropicError(await json(unknown), "authentication_error");
    const invalid = await call("/v1/messages/count_tokens", { token: null, headers: { "x-api-key": key.key }, body: { model: MODEL } });
    expect(invalid.status).toBe(400);
    expectAnthropicError(await json(invalid), "invalid_request_error");
  });
});

/** A fetch spy's answer for Anthropic's own API: the embedded mock, reached at its /v1/messages path. */
async function mockAnswer(request: Request): Promise<Response> {
  const { mockUpstream } = await import("../../../src/mock-upstream");
  return mockUpstream(new Request(`http://mock.upstream${new URL(request.url).pathname}`, request));
}
