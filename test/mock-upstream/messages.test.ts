import { describe, expect, it } from "vitest";
import { sseEvents } from "../helpers/proxy";
import {
  countPromptTokens,
  MIN_CACHEABLE_PROMPT_TOKENS,
  mockUpstream,
  naturalCompletionTokens,
} from "../../src/mock-upstream";
import { PromptCacheMemory, PROMPT_CACHE_MAX_ENTRIES } from "../../src/mock-upstream/prompt-cache";

type Json = Record<string, any>;

const MODEL = "claude-sonnet-4-5";

function post(path: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Request {
  return new Request(`http://mock${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal,
  });
}

async function call(body: unknown, headers: Record<string, string> = {}, path = "/v1/messages"): Promise<Response> {
  return mockUpstream(post(path, body, headers));
}

async function message(body: unknown, headers: Record<string, string> = {}): Promise<Json> {
  const res = await call(body, headers);
  expect(res.status).toBe(200);
  return (await res.json()) as Json;
}

async function stream(body: unknown, headers: Record<string, string> = {}): Promise<Array<{ event: string | null; data: Json }>> {
  const res = await call({ ...(body as Json), stream: true }, headers);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/event-stream");
  return sseEvents(await res.text()).map((e) => ({ event: e.event, data: JSON.parse(e.data) as Json }));
}

async function countTokens(body: unknown): Promise<number> {
  const res = await call(body, {}, "/v1/messages/count_tokens");
  expect(res.status).toBe(200);
  return ((await res.json()) as Json).input_tokens as number;
}

/** ceil(length / 4) tokens, as the mock counts text. */
const tokensOf = (text: string): number => Math.ceil(text.length / 4);

/** Text well over the caching minimum; `tag` keeps each test's prefixes apart in the shared cache. */
function longText(tag: string, words = 400): string {
  return `${tag}: ${"lorem ipsum ".repeat(words)}`;
}

const ephemeral = { type: "ephemeral" } as const;
const ephemeral1h = { type: "ephemeral", ttl: "1h" } as const;

function cachedSystemBody(tag: string, cacheControl: object = ephemeral, question = "What is this?"): Json {
  return {
    model: MODEL,
    max_tokens: 5,
    system: [{ type: "text", text: longText(tag), cache_control: cacheControl }],
    messages: [{ role: "user", content: question }],
  };
}

const plainBody = {
  model: MODEL,
  max_tokens: 7,
  system: "You are terse.",
  messages: [{ role: "user", content: "Hello there, how are you?" }],
};

const zeroCache = { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 };

describe("mock upstream: Anthropic messages", () => {
  it("answers with a message of max_tokens tokens (stop_reason max_tokens) and the whole prompt as input_tokens when nothing is cached", async () => {
    const body = await message(plainBody);
    const prompt = countPromptTokens(plainBody, "/v1/messages");
    expect(body).toEqual({
      id: expect.stringMatching(/^msg_mock_/),
      type: "message",
      role: "assistant",
      model: MODEL,
      content: [{ type: "text", text: "tok ".repeat(7) }],
      stop_reason: "max_tokens",
      stop_sequence: null,
      usage: {
        input_tokens: prompt,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        cache_creation: zeroCache,
        output_tokens: 7,
        service_tier: "standard",
      },
    });
  });

  it("stops on its own with end_turn below a roomy max_tokens, at the prompt's natural length", async () => {
    const natural = naturalCompletionTokens(plainBody, "/v1/messages");
    const body = await message({ ...plainBody, max_tokens: natural + 50 });
    expect(body.usage.output_tokens).toBe(natural);
    expect(body.stop_reason).toBe("end_turn");
    const exact = await message({ ...plainBody, max_tokens: natural });
    expect(exact.stop_reason).toBe("max_tokens");
  });

  it("x-mock-completion-tokens writes past max_tokens and reports max_tokens", async () => {
    const body = await message(plainBody, { "x-mock-completion-tokens": "12" });
    expect(body.usage.output_tokens).toBe(12);
    expect(body.stop_reason).toBe("max_tokens");
  });

  it("counts 3 per request, 3 per turn (the system prompt is one), ceil(chars / 4) per text block and each tool's JSON", async () => {
    const tool = { name: "get_weather", description: "Weather by city", input_schema: { type: "object" } };
    const body = {
      model: MODEL,
      max_tokens: 1,
      system: "You are terse.",
      tools: [tool],
      messages: [
        { role: "user", content: "Hello there" },
        { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "get_weather", input: { city: "Oslo" } }] },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "t1", content: "Sunny" },
            { type: "image", source: { type: "base64", media_type: "image/png", data: "aGVsbG8=" } },
          ],
        },
      ],
    };
    const expected =
      3 +
      tokensOf(JSON.stringify(tool)) +
      (3 + tokensOf("You are terse.")) +
      (3 + tokensOf("Hello there")) +
      (3 + tokensOf("get_weather") + tokensOf(JSON.stringify({ city: "Oslo" }))) +
      (3 + tokensOf("Sunny"));
    expect(countPromptTokens(body, "/v1/messages")).toBe(expected);
    expect((await message(body)).usage.input_tokens).toBe(expected);

    // The same text as a system block, with or without a cache marker, counts the same.
    const asBlocks = { ...body, system: [{ type: "text", text: "You are terse.", cache_control: ephemeral }] };
    const markedTool = { ...body, tools: [{ ...tool, cache_control: ephemeral }] };
    expect(countPromptTokens(asBlocks, "/v1/messages")).toBe(expected);
    expect(countPromptTokens(markedTool, "/v1/messages")).toBe(expected);
  });

  it("accepts the path without the /v1 prefix", async () => {
    const res = await call(plainBody, {}, "/messages");
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).type).toBe("message");
  });
});

describe("mock upstream: Anthropic streaming", () => {
  it("streams message_start, content_block_start, ping, one text_delta per token, content_block_stop, message_delta, message_stop with the non-streamed usage", async () => {
    const plain = await message(plainBody);
    const events = await stream(plainBody);
    expect(events.map((e) => e.event)).toEqual([
      "message_start",
      "content_block_start",
      "ping",
      ...Array<string>(7).fill("content_block_delta"),
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    expect(events.every((e) => e.data.type === e.event)).toBe(true);

    const start = events[0]!.data.message as Json;
    expect(start).toMatchObject({ type: "message", role: "assistant", model: MODEL, content: [], stop_reason: null });
    expect(start.id).toMatch(/^msg_mock_/);
    expect(start.usage).toEqual({ ...plain.usage, output_tokens: 1 });
    expect(events[1]!.data).toEqual({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });

    const deltas = events.filter((e) => e.event === "content_block_delta").map((e) => e.data);
    expect(deltas.every((d) => d.index === 0 && d.delta.type === "text_delta")).toBe(true);
    expect(deltas.map((d) => d.delta.text).join("")).toBe(plain.content[0].text);

    const delta = events.find((e) => e.event === "message_delta")!.data;
    expect(delta).toEqual({
      type: "message_delta",
      delta: { stop_reason: plain.stop_reason, stop_sequence: null },
      usage: { output_tokens: plain.usage.output_tokens },
    });
  });

  it("x-mock-stream-truncate-after cuts after N deltas, before content_block_stop, message_delta and message_stop", async () => {
    const events = await stream(plainBody, { "x-mock-stream-truncate-after": "3" });
    expect(events.map((e) => e.event)).toEqual([
      "message_start",
      "content_block_start",
      "ping",
      "content_block_delta",
      "content_block_delta",
      "content_block_delta",
    ]);
  });

  it("x-mock-omit-usage drops usage from the message, message_start and message_delta", async () => {
    const body = await message(plainBody, { "x-mock-omit-usage": "true" });
    expect("usage" in body).toBe(false);
    const events = await stream(plainBody, { "x-mock-omit-usage": "true" });
    expect("usage" in (events[0]!.data.message as Json)).toBe(false);
    const delta = events.find((e) => e.event === "message_delta")!.data;
    expect("usage" in delta).toBe(false);
    expect(delta.delta.stop_reason).toBe("max_tokens");
    expect(events.at(-1)?.event).toBe("message_stop");
  });

  it("waits x-mock-chunk-delay-ms between events and errors the stream when the client aborts", async () => {
    const controller = new AbortController();
    const res = await mockUpstream(
      post("/v1/messages", { ...plainBody, max_tokens: 1000, stream: true }, { "x-mock-chunk-delay-ms": "5" }, controller.signal),
    );
    const reader = res.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    controller.abort();
    await expect(reader.read()).rejects.toMatchObject({ name: "AbortError" });

    const slow = await call({ ...plainBody, stream: true }, { "x-mock-chunk-delay-ms": "200" });
    const slowReader = slow.body!.getReader();
    const first = await Promise.race([
      slowReader.read().then(() => "read"),
      new Promise((resolve) => setTimeout(() => resolve("pending"), 50)),
    ]);
    expect(first).toBe("pending");
    await slowReader.cancel();
  });
});

describe("mock upstream: Anthropic prompt caching", () => {
  it("writes a marked prefix on the first call (5m bucket) and reads it on the next; input_tokens excludes both", async () => {
    const body = cachedSystemBody("first-write");
    const total = countPromptTokens(body, "/v1/messages");
    const prefix = 3 + 3 + tokensOf(longText("first-write"));
    expect(prefix).toBeGreaterThanOrEqual(MIN_CACHEABLE_PROMPT_TOKENS);

    const first = (await message(body)).usage;
    expect(first).toMatchObject({
      input_tokens: total - prefix,
      cache_creation_input_tokens: prefix,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: prefix, ephemeral_1h_input_tokens: 0 },
    });
    const second = (await message({ ...body, messages: [{ role: "user", content: "And now?" }] })).usage;
    const total2 = countPromptTokens({ ...body, messages: [{ role: "user", content: "And now?" }] }, "/v1/messages");
    expect(second).toMatchObject({
      input_tokens: total2 - prefix,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: prefix,
      cache_creation: zeroCache,
    });
  });

  it("bills a ttl 1h breakpoint to the 1h bucket, and splits writes by the breakpoint that closes each stretch", async () => {
    const oneHour = (await message(cachedSystemBody("one-hour", ephemeral1h))).usage;
    expect(oneHour.cache_creation.ephemeral_1h_input_tokens).toBe(oneHour.cache_creation_input_tokens);
    expect(oneHour.cache_creation.ephemeral_5m_input_tokens).toBe(0);
    expect(oneHour.cache_creation_input_tokens).toBeGreaterThan(0);

    const system = [{ type: "text", text: longText("split-sys"), cache_control: ephemeral1h }];
    const turn = { role: "user", content: [{ type: "text", text: longText("split-turn"), cache_control: ephemeral }] };
    const body = { model: MODEL, max_tokens: 3, system, messages: [turn] };
    const systemPrefix = 3 + 3 + tokensOf(longText("split-sys"));
    const total = countPromptTokens(body, "/v1/messages");
    const split = (await message(body)).usage;
    expect(split.cache_creation).toEqual({ ephemeral_1h_input_tokens: systemPrefix, ephemeral_5m_input_tokens: total - systemPrefix });
    expect(split.input_tokens).toBe(0);
    const again = (await message(body)).usage;
    expect(again).toMatchObject({ input_tokens: 0, cache_read_input_tokens: total, cache_creation_input_tokens: 0 });
  });

  it("does not cache prefixes below the minimum, marked or not", async () => {
    const short = {
      model: MODEL,
      max_tokens: 3,
      system: [{ type: "text", text: "short-prefix: be brief", cache_control: ephemeral }],
      messages: [{ role: "user", content: "Hi" }],
    };
    for (let i = 0; i < 2; i += 1) {
      const usage = (await message(short)).usage;
      expect(usage).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: 0, cache_creation: zeroCache });
      expect(usage.input_tokens).toBe(countPromptTokens(short, "/v1/messages"));
    }
    // Long but unmarked: Anthropic caches nothing without a breakpoint.
    const unmarked = { ...short, system: longText("unmarked") };
    await message(unmarked);
    expect((await message(unmarked)).usage.cache_read_input_tokens).toBe(0);
  });

  it("a conversation that moves its breakpoint to the newest turn reads the previous turn's prefix and writes only the new stretch", async () => {
    const system = longText("moving");
    const turn1 = { role: "user", content: [{ type: "text", text: "first question", cache_control: ephemeral }] };
    const body1 = { model: MODEL, max_tokens: 3, system, messages: [turn1] };
    const total1 = countPromptTokens(body1, "/v1/messages");
    expect((await message(body1)).usage.cache_creation_input_tokens).toBe(total1);

    const turns2 = [
      { role: "user", content: [{ type: "text", text: "first question" }] },
      { role: "assistant", content: "tok tok tok " },
      { role: "user", content: [{ type: "text", text: "second question", cache_control: ephemeral }] },
    ];
    const body2 = { ...body1, messages: turns2 };
    const total2 = countPromptTokens(body2, "/v1/messages");
    const usage = (await message(body2)).usage;
    expect(usage).toMatchObject({ cache_read_input_tokens: total1, cache_creation_input_tokens: total2 - total1, input_tokens: 0 });
  });

  it("keys the cache by model and caches up to the last block with top-level (automatic) cache_control", async () => {
    const body = cachedSystemBody("per-model");
    await message(body);
    expect((await message({ ...body, model: "claude-haiku-4-5" })).usage.cache_read_input_tokens).toBe(0);

    const automatic = { model: MODEL, max_tokens: 3, cache_control: ephemeral, messages: [{ role: "user", content: longText("auto") }] };
    const total = countPromptTokens(automatic, "/v1/messages");
    expect((await message(automatic)).usage.cache_creation_input_tokens).toBe(total);
    expect((await message(automatic)).usage.cache_read_input_tokens).toBe(total);
  });

  it("x-mock-cache-read-tokens / x-mock-cache-write-tokens force exact values, clamped to the prompt, without touching the cache", async () => {
    const body = cachedSystemBody("forced", ephemeral1h);
    const total = countPromptTokens(body, "/v1/messages");
    const forced = (await message(body, { "x-mock-cache-read-tokens": "100", "x-mock-cache-write-tokens": "50" })).usage;
    expect(forced).toMatchObject({
      input_tokens: total - 150,
      cache_read_input_tokens: 100,
      cache_creation_input_tokens: 50,
      // The request's last breakpoint asks for 1h.
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 50 },
    });

    const clamped = (await message(body, { "x-mock-cache-read-tokens": String(total - 10), "x-mock-cache-write-tokens": "999999" })).usage;
    expect(clamped).toMatchObject({ input_tokens: 0, cache_read_input_tokens: total - 10, cache_creation_input_tokens: 10 });

    const readOnly = (await message(plainBody, { "x-mock-cache-read-tokens": "4" })).usage;
    expect(readOnly).toMatchObject({ cache_read_input_tokens: 4, cache_creation_input_tokens: 0, cache_creation: zeroCache });

    // The forced calls left the simulated cache alone: the first real call still writes.
    expect((await message(body)).usage.cache_creation_input_tokens).toBeGreaterThan(0);
  });

  it("refuses more than 4 breakpoints and a 1h breakpoint after a 5m one", async () => {
    const many = {
      model: MODEL,
      max_tokens: 3,
      messages: [{ role: "user", content: Array.from({ length: 5 }, (_, i) => ({ type: "text", text: `p${i}`, cache_control: ephemeral })) }],
    };
    const res = await call(many);
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).error.message).toMatch(/maximum of 4 blocks with cache_control/);

    const misordered = {
      model: MODEL,
      max_tokens: 3,
      system: [{ type: "text", text: "s", cache_control: ephemeral }],
      messages: [{ role: "user", content: [{ type: "text", text: "u", cache_control: ephemeral1h }] }],
    };
    expect((await call(misordered)).status).toBe(400);
  });
});

describe("mock upstream: Anthropic count_tokens", () => {
  it("equals input + cache_creation + cache_read of a messages call, cached or not, and needs no max_tokens", async () => {
    const { max_tokens: _, ...uncounted } = plainBody;
    const plain = (await message(plainBody)).usage;
    expect(await countTokens(uncounted)).toBe(plain.input_tokens + plain.cache_creation_input_tokens + plain.cache_read_input_tokens);

    const cached = cachedSystemBody("count");
    for (let i = 0; i < 2; i += 1) {
      const usage = (await message(cached)).usage;
      expect(await countTokens(cached)).toBe(usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens);
    }
  });

  it("never writes the cache", async () => {
    const body = cachedSystemBody("count-no-write");
    await countTokens(body);
    expect((await message(body)).usage.cache_read_input_tokens).toBe(0);
  });
});

describe("mock upstream: Anthropic errors", () => {
  async function errorOf(res: Response): Promise<Json> {
    expect(res.headers.get("content-type")).toBe("application/json");
    const body = (await res.json()) as Json;
    expect(Object.keys(body).sort()).toEqual(["error", "type"]);
    expect(body.type).toBe("error");
    expect(Object.keys(body.error).sort()).toEqual(["message", "type"]);
    return body.error as Json;
  }

  it("rejects invalid bodies with a 400 invalid_request_error naming the field", async () => {
    const { max_tokens: _, ...noMax } = plainBody;
    const cases: Array<[unknown, RegExp]> = [
      [noMax, /^max_tokens: Field required$/],
      [{ ...plainBody, max_tokens: 0 }, /^max_tokens: /],
      [{ ...plainBody, max_tokens: 1.5 }, /^max_tokens: /],
      [{ ...plainBody, model: undefined }, /^model: Field required$/],
      [{ ...plainBody, messages: [] }, /^messages: /],
      [{ ...plainBody, messages: [{ role: "system", content: "x" }] }, /^messages\.0\.role: /],
      [{ ...plainBody, messages: [{ role: "user", content: [{ type: "text", text: "x", cache_control: { type: "ephemeral", ttl: "2h" } }] }] }, /cache_control\.ttl/],
      [{ ...plainBody, thinking: { type: "enabled", budget_tokens: 2048 } }, /budget_tokens/],
      ["{not json", /JSON/],
    ];
    for (const [body, message] of cases) {
      const res = await call(body);
      expect(res.status).toBe(400);
      const error = await errorOf(res);
      expect(error.type).toBe("invalid_request_error");
      expect(error.message).toMatch(message);
    }
    expect((await call({ ...plainBody, max_tokens: 4096, thinking: { type: "enabled", budget_tokens: 2048 } })).status).toBe(200);
  });

  it("x-mock-status answers in Anthropic's envelope and types, with retry-after only on 429, on both routes", async () => {
    const types: Record<number, string> = {
      400: "invalid_request_error",
      401: "authentication_error",
      403: "permission_error",
      404: "not_found_error",
      413: "request_too_large",
      429: "rate_limit_error",
      500: "api_error",
      503: "api_error",
      529: "overloaded_error",
    };
    for (const [status, type] of Object.entries(types)) {
      const res = await call(plainBody, { "x-mock-status": status });
      expect(res.status).toBe(Number(status));
      expect((await errorOf(res)).type).toBe(type);
      expect(res.headers.get("retry-after")).toBe(status === "429" ? "1" : null);
    }
    const counted = await call(plainBody, { "x-mock-status": "529" }, "/v1/messages/count_tokens");
    expect(counted.status).toBe(529);
    expect((await errorOf(counted)).type).toBe("overloaded_error");

    // OpenAI routes keep OpenAI's envelope.
    const chat = await call({ messages: [{ role: "user", content: "x" }] }, { "x-mock-status": "429" }, "/v1/chat/completions");
    expect(((await chat.json()) as Json).error.code).toBe("rate_limit_exceeded");
  });

  it("answers unknown Anthropic paths with a not_found_error and echoes x-mock-response-cost on success", async () => {
    const unknown = await call(plainBody, {}, "/v1/messages/batches-nope");
    expect(unknown.status).toBe(404);
    expect((await errorOf(unknown)).type).toBe("not_found_error");

    const costed = await call(plainBody, { "x-mock-response-cost": "0.25" });
    expect(costed.headers.get("x-litellm-response-cost")).toBe("0.25");
    const streamed = await call({ ...plainBody, stream: true }, { "x-mock-response-cost": "0.5" });
    expect(streamed.headers.get("x-litellm-response-cost")).toBe("0.5");
    await streamed.body?.cancel();
  });
});

describe("PromptCacheMemory", () => {
  it("expires entries after their TTL, and a use restarts the TTL", () => {
    let now = 0;
    const memory = new PromptCacheMemory(10, () => now);
    memory.write("a", "5m");
    memory.write("b", "1h");
    now = 4 * 60_000;
    expect(memory.has("a")).toBe(true);
    memory.touch("a");
    now = 8 * 60_000;
    expect(memory.has("a")).toBe(true);
    now = 9 * 60_000 + 1;
    expect(memory.has("a")).toBe(false);
    expect(memory.has("b")).toBe(true);
    now = 60 * 60_000 + 1;
    expect(memory.has("b")).toBe(false);
  });

  it("stays bounded, evicting expired entries first and then the least recently used", () => {
    let now = 0;
    const memory = new PromptCacheMemory(3, () => now);
    memory.write("old", "5m");
    memory.write("x", "1h");
    memory.write("y", "1h");
    now = 6 * 60_000;
    memory.write("z", "1h");
    expect(memory.size).toBe(3);
    expect(memory.has("x") && memory.has("y") && memory.has("z")).toBe(true);
    memory.touch("x");
    memory.write("w", "1h");
    expect(memory.size).toBe(3);
    expect(memory.has("y")).toBe(false);
    expect(memory.has("x")).toBe(true);
    expect(PROMPT_CACHE_MAX_ENTRIES).toBe(1000);
  });
});
