import { afterEach, describe, expect, it, vi } from "vitest";
import { promptEstimateOf } from "../../helpers/default-request";
import { call, createKey, json, settled } from "../../helpers/gateway";
import { fakeUpstream, nanos, post, spendLogs, UPSTREAM } from "../../helpers/proxy";

// What cached prompt tokens cost, for OpenAI's usage reports (cached_tokens) and Anthropic's (cache reads, 5-minute
// and 1-hour writes), from the price database, MODEL_PRICES or the upstream's own figure; and that money is reserved
// at the cache-write price when the prompt may be written to the cache.

afterEach(() => vi.restoreAllMocks());

/**
 * List prices in nano-dollars per token, written out here so a wrong price table fails: gpt-4o-mini $0.15/M in,
 * $0.075/M cached, $0.60/M out; claude-sonnet-4 $3/M in, $15/M out, cache reads 0.1x, 5-minute writes 1.25x,
 * 1-hour writes 2x.
 */
const MINI = { input: 150, cached: 75, output: 600 };
const SONNET = { input: 3000, output: 15_000, read: 300, write: 3750, write1h: 6000 };
const CLAUDE = "claude-sonnet-4-20250514";

/** A usage report with cached and reasoning tokens: 1000 prompt tokens of which 600 cached, 200 completion of which 150 reasoning. */
const PROMPT = 1000;
const CACHED = 600;
const COMPLETION = 200;
const REASONING = 150;
/** (1000 - 600) * 150 + 600 * 75 + 200 * 600: reasoning is part of the 200, never added again. */
const OPENAI_COST = (PROMPT - CACHED) * MINI.input + CACHED * MINI.cached + COMPLETION * MINI.output;

const jsonAnswer = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });

interface SpendLogLine {
  request_id: string | null;
  spend: number;
  total_tokens: number;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  cache_read_input_tokens: number | null;
  cache_creation_input_tokens: number | null;
  price_source: string | null;
  outcome: string;
}

async function onlyLine(key: string): Promise<SpendLogLine> {
  const lines = (await spendLogs(key)) as unknown as SpendLogLine[];
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

describe("OpenAI's cached_tokens", () => {
  it("chat completions: cached tokens cost gpt-4o-mini's cached-input price, reasoning tokens are not added again", async () => {
    const seen = fakeUpstream(() =>
      jsonAnswer({
        id: "chatcmpl-cached",
        object: "chat.completion",
        created: 1,
        model: "gpt-4o-mini",
        choices: [{ index: 0, message: { role: "assistant", content: "cached" }, finish_reason: "stop" }],
        usage: {
          prompt_tokens: PROMPT,
          completion_tokens: COMPLETION,
          total_tokens: PROMPT + COMPLETION,
          prompt_tokens_details: { cached_tokens: CACHED, audio_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: REASONING, audio_tokens: 0 },
        },
      }),
    );
    const key = await createKey();
    const response = await post(UPSTREAM, "/v1/chat/completions", key.key, { model: "gpt-4o-mini", messages: [{ role: "user", content: "again" }], max_tokens: 300 });
    expect(response.status).toBe(200);
    expect(seen).toHaveLength(1);
    expect(nanos(Number(response.headers.get("x-litellm-response-cost")))).toBe(OPENAI_COST);
    await response.text();
    const info = await settled(key.key);
    expect(nanos(info.spend)).toBe(OPENAI_COST);
    expect(info.usage.tokens).toBe(PROMPT + COMPLETION);
    const line = await onlyLine(key.key);
    expect(line).toMatchObject({
      outcome: "settled",
      total_tokens: PROMPT + COMPLETION,
      prompt_tokens: PROMPT,
      completion_tokens: COMPLETION,
      cache_read_input_tokens: CACHED,
      cache_creation_input_tokens: 0,
    });
    expect(nanos(line.spend)).toBe(OPENAI_COST);
    expect(line.price_source).toMatch(/^genai-prices@\d+\.\d+\.\d+$/);
  });

  it("responses API: input_tokens_details.cached_tokens likewise, output reasoning tokens not added again", async () => {
    fakeUpstream(() =>
      jsonAnswer({
        id: "resp_cached",
        object: "response",
        created_at: 1,
        status: "completed",
        model: "gpt-4o-mini",
        output: [{ type: "message", id: "msg_1", role: "assistant", status: "completed", content: [{ type: "output_text", text: "cached", annotations: [] }] }],
        usage: {
          input_tokens: PROMPT,
          input_tokens_details: { cached_tokens: CACHED },
          output_tokens: COMPLETION,
          output_tokens_details: { reasoning_tokens: REASONING },
          total_tokens: PROMPT + COMPLETION,
        },
      }),
    );
    const key = await createKey();
    const response = await post(UPSTREAM, "/v1/responses", key.key, { model: "gpt-4o-mini", input: "again", max_output_tokens: 300 });
    expect(response.status).toBe(200);
    await response.text();
    const info = await settled(key.key);
    expect(nanos(info.spend)).toBe(OPENAI_COST);
    expect(info.usage.tokens).toBe(PROMPT + COMPLETION);
    const line = await onlyLine(key.key);
    expect(line).toMatchObject({ prompt_tokens: PROMPT, completion_tokens: COMPLETION, cache_read_input_tokens: CACHED });
    expect(line.price_source).toMatch(/^genai-prices@/);
  });
});

/** Long enough that the mock can report 200 cache reads and 100 writes and still have uncached input. */
const LONG = `Reference material: ${"the quick brown fox jumps over the lazy dog ".repeat(60)}`;
const question = [{ role: "user", content: "Summarise the reference." }];
const ephemeral = { type: "ephemeral" } as const;
const ephemeral1h = { type: "ephemeral", ttl: "1h" } as const;

function messagesBody(cacheControl: object | null, maxTokens = 30): Record<string, unknown> {
  return {
    model: CLAUDE,
    max_tokens: maxTokens,
    system: [{ type: "text", text: LONG, ...(cacheControl ? { cache_control: cacheControl } : {}) }],
    messages: question,
  };
}

/** POST /v1/messages to the embedded mock as `key` (x-api-key), its answer exactly max_tokens long. */
function messages(key: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return call("/v1/messages", {
    token: null,
    headers: { "x-api-key": key, "anthropic-version": "2023-06-01", "x-mock-completion-tokens": String(body.max_tokens), ...headers },
    body,
  });
}

const CACHE_HEADERS = { "x-mock-cache-read-tokens": "200", "x-mock-cache-write-tokens": "100" };

describe("Anthropic's cache reads and writes", () => {
  it("cost input * 3000 + reads * 300 + 5-minute writes * 3750 + output * 15000 nano-dollars (claude-sonnet-4)", async () => {
    const key = await createKey();
    const response = await messages(key.key, messagesBody(ephemeral), CACHE_HEADERS);
    expect(response.status).toBe(200);
    const usage = (await json(response)).usage;
    expect(usage).toMatchObject({
      cache_read_input_tokens: 200,
      cache_creation_input_tokens: 100,
      cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 0 },
      output_tokens: 30,
    });
    expect(usage.input_tokens).toBeGreaterThan(0);
    const expected = usage.input_tokens * SONNET.input + 200 * SONNET.read + 100 * SONNET.write + 30 * SONNET.output;
    expect(nanos(Number(response.headers.get("x-litellm-response-cost")))).toBe(expected);
    const info = await settled(key.key);
    expect(nanos(info.spend)).toBe(expected);
    const line = await onlyLine(key.key);
    expect(line).toMatchObject({
      prompt_tokens: usage.input_tokens + 300,
      completion_tokens: 30,
      cache_read_input_tokens: 200,
      cache_creation_input_tokens: 100,
      total_tokens: usage.input_tokens + 330,
    });
    expect(line.price_source).toMatch(/^genai-prices@/);
  });

  it('1-hour writes (cache_control ttl "1h") cost 6000 nano-dollars per token', async () => {
    const key = await createKey();
    const response = await messages(key.key, messagesBody(ephemeral1h), CACHE_HEADERS);
    expect(response.status).toBe(200);
    const usage = (await json(response)).usage;
    expect(usage.cache_creation).toEqual({ ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 100 });
    const expected = usage.input_tokens * SONNET.input + 200 * SONNET.read + 100 * SONNET.write1h + 30 * SONNET.output;
    const info = await settled(key.key);
    expect(nanos(info.spend)).toBe(expected);
    expect((await onlyLine(key.key)).cache_creation_input_tokens).toBe(100);
  });

  it('MODEL_PRICES cache prices win over the database, and the spend log says "model_prices"', async () => {
    const prices = JSON.stringify({
      [CLAUDE]: {
        input_cost_per_token: 1e-6,
        output_cost_per_token: 2e-6,
        cache_read_input_token_cost: 1e-7,
        cache_creation_input_token_cost: 5e-6,
      },
    });
    const key = await createKey();
    const response = await post({ MODEL_PRICES: prices }, "/v1/messages", key.key, messagesBody(ephemeral), CACHE_HEADERS);
    expect(response.status).toBe(200);
    const usage = (await json(response)).usage;
    const expected = usage.input_tokens * 1000 + 200 * 100 + 100 * 5000 + 30 * 2000;
    const info = await settled(key.key);
    expect(nanos(info.spend)).toBe(expected);
    const line = await onlyLine(key.key);
    expect(line.price_source).toBe("model_prices");
    expect(nanos(line.spend)).toBe(expected);
  });

  it('the upstream\'s x-litellm-response-cost wins over every price, and the spend log says "upstream"', async () => {
    const prices = JSON.stringify({ [CLAUDE]: { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6, cache_read_input_token_cost: 1e-7 } });
    const key = await createKey();
    const response = await post({ MODEL_PRICES: prices }, "/v1/messages", key.key, messagesBody(ephemeral), { ...CACHE_HEADERS, "x-mock-response-cost": "0.0042" });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-litellm-response-cost")).toBe("0.0042");
    await response.text();
    const info = await settled(key.key);
    expect(info.spend).toBe(0.0042);
    const line = await onlyLine(key.key);
    expect(line).toMatchObject({ price_source: "upstream", spend: 0.0042, cache_read_input_tokens: 200, cache_creation_input_tokens: 100 });
  });
});

describe("money is reserved at the cache-write price when the prompt marks cache_control", () => {
  const MAX_TOKENS = 100;

  it("a budget that fits the call exactly at the input price refuses the same call with cache_control, and admits it without", async () => {
    const plain = messagesBody(null, MAX_TOKENS);
    const cached = messagesBody(ephemeral, MAX_TOKENS);
    const boundOf = (body: Record<string, unknown>) => promptEstimateOf({ kind: "anthropic", system: body.system, messages: body.messages }, CLAUDE);
    // The worst case at the input price: every prompt token of the byte bound plus the whole output cap.
    const plainWorst = (await boundOf(plain)) * SONNET.input + MAX_TOKENS * SONNET.output;
    const cachedAtWrite = (await boundOf(cached)) * SONNET.write + MAX_TOKENS * SONNET.output;
    expect(cachedAtWrite).toBeGreaterThan(plainWorst);
    const key = await createKey({ max_budget: plainWorst / 1e9 });

    const refused = await messages(key.key, cached);
    expect(refused.status).toBe(429);
    const body = await json(refused);
    expect(body.type).toBe("error");
    expect(body.error).toMatchObject({ type: "rate_limit_error", limit: { scope: "key", name: "max_budget", limit: plainWorst / 1e9 } });
    expect(body.error.limit.requested).toBeGreaterThanOrEqual(cachedAtWrite / 1e9);

    const admitted = await messages(key.key, plain);
    expect(admitted.status).toBe(200);
    await admitted.text();
    await settled(key.key);
  });

  it("a chat completion marking cache_control (LiteLLM's Claude prompt caching) reserves at the write price too", async () => {
    // LiteLLM answers a Claude chat completion whose message parts carry cache_control with
    // usage.cache_creation_input_tokens, which the gateway charges at the write price: admission must reserve at it.
    const MESSAGES = [{ role: "user", content: [{ type: "text", text: LONG, cache_control: ephemeral }] }];
    const bound = await promptEstimateOf({ kind: "chat", messages: MESSAGES }, CLAUDE);
    const atInput = bound * SONNET.input + MAX_TOKENS * SONNET.output;
    fakeUpstream(() =>
      jsonAnswer({
        id: "chatcmpl-claude",
        object: "chat.completion",
        created: 1,
        model: CLAUDE,
        choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "length" }],
        usage: { prompt_tokens: bound, completion_tokens: MAX_TOKENS, total_tokens: bound + MAX_TOKENS, cache_creation_input_tokens: bound },
      }),
    );
    const key = await createKey({ max_budget: atInput / 1e9 });
    const response = await post(UPSTREAM, "/v1/chat/completions", key.key, { model: CLAUDE, messages: MESSAGES, max_tokens: MAX_TOKENS });
    const text = await response.text();
    const info = await settled(key.key);
    // Either way the budget must hold: a call that could cost more than it has left is refused up front.
    expect(nanos(info.spend)).toBeLessThanOrEqual(atInput);
    expect(response.status, text).toBe(429);
  });
});
