import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../../../src/app";
import { mockPromptTokens } from "../../helpers/default-request";
import { call, chat, createKey, settled } from "../../helpers/gateway";
import { fakeUpstream, NANO_PRICES, post, ssePayloads, sseEvents, UPSTREAM, usdFor } from "../../helpers/proxy";

// A chat stream that ends without usage, cut by the upstream, or abandoned by the client is covered in
// test/admission/leaks.test.ts ("interrupted streams settle with what was streamed"); here: the normal path,
// usage injection and stripping, and the other streaming endpoints.

afterEach(() => vi.restoreAllMocks());

const PRICE = NANO_PRICES["gpt-4o-mini"];
const MESSAGES = [{ role: "user", content: "Stream me a short answer, please." }];
const CHAT_PROMPT = await mockPromptTokens({ model: "gpt-4o-mini", messages: MESSAGES }, "/chat/completions");

/** Usage chunks as OpenAI sends them: no choices, a real usage object. */
const usageChunks = (payloads: Array<Record<string, any>>) =>
  payloads.filter((payload) => Array.isArray(payload.choices) && payload.choices.length === 0);
/** Any non-null usage the client got, whatever the chunk looked like. */
const usagesSeen = (payloads: Array<Record<string, any>>) => payloads.filter((payload) => payload.usage != null);
const contentOf = (payloads: Array<Record<string, any>>) =>
  payloads.map((payload) => payload.choices?.[0]?.delta?.content ?? payload.choices?.[0]?.text ?? "").join("");

function expectNothingReserved(info: Record<string, any>): void {
  expect(info.usage.in_flight).toBe(0);
  expect(info.usage.reserved_tokens).toBe(0);
  expect(info.usage.reserved_spend).toBe(0);
}

describe("streamed chat completions", () => {
  it("pass through chunk by chunk: the first chunk reaches the client long before the stream ends", async () => {
    const key = await createKey();
    const started = Date.now();
    // 8 content chunks + role, finish, usage and [DONE]: about 12 x 40 ms upstream.
    const response = await chat(key.key, { messages: MESSAGES, stream: true, max_tokens: 8 }, { "x-mock-chunk-delay-ms": "40" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let firstAt: number | null = null;
    let reads = 0;
    let text = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.byteLength === 0) continue;
      reads++;
      firstAt ??= Date.now() - started;
      text += decoder.decode(value, { stream: true });
    }
    const totalMs = Date.now() - started;
    expect(firstAt).not.toBeNull();
    expect(totalMs).toBeGreaterThanOrEqual(400);
    expect(firstAt!).toBeLessThan(totalMs - 250);
    // Buffering the whole answer would arrive as one or two reads; each upstream chunk is its own read.
    expect(reads).toBeGreaterThanOrEqual(9);
    expect(contentOf(ssePayloads(text))).toBe("tok ".repeat(8));
  });

  it.each([
    ["without stream_options", {}],
    ["with include_usage false", { stream_options: { include_usage: false } }],
  ])("%s: include_usage is injected upstream, the usage chunk is stripped, and the key is charged exactly the usage", async (_, extra) => {
    const key = await createKey();
    const seen = fakeUpstream();
    const response = await post(UPSTREAM, "/v1/chat/completions", key.key, {
      model: "gpt-4o-mini", messages: MESSAGES, stream: true, max_tokens: 6, ...extra,
    });
    expect(response.status).toBe(200);
    const text = await response.text();

    expect(seen).toHaveLength(1);
    expect(seen[0]!.request.url).toBe("http://upstream.test/v1/chat/completions");
    expect(seen[0]!.body.stream).toBe(true);
    expect(seen[0]!.body.stream_options.include_usage).toBe(true);

    const payloads = ssePayloads(text);
    expect(usageChunks(payloads)).toEqual([]);
    expect(usagesSeen(payloads)).toEqual([]);
    expect(text).not.toContain("prompt_tokens");
    // Stripping left valid framing: no empty events, nothing glued together.
    expect(text).not.toContain("\n\n\n");
    expect(contentOf(payloads)).toBe("tok ".repeat(6));

    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(CHAT_PROMPT + 6);
    expect(info.spend).toBe(usdFor(PRICE, CHAT_PROMPT, 6));
  });

  it("pass the usage chunk through when the client asked for it, and charge what it reports", async () => {
    const key = await createKey();
    const response = await chat(key.key, { messages: MESSAGES, stream: true, max_tokens: 5, stream_options: { include_usage: true } });
    expect(response.status).toBe(200);
    const payloads = ssePayloads(await response.text());
    const chunks = usageChunks(payloads);
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.usage).toEqual({ prompt_tokens: CHAT_PROMPT, completion_tokens: 5, total_tokens: CHAT_PROMPT + 5 });
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(CHAT_PROMPT + 5);
    expect(info.spend).toBe(usdFor(PRICE, CHAT_PROMPT, 5));
  });

  it.each([
    ["the gateway asked for usage", {}],
    ["the client asked for usage", { stream_options: { include_usage: true } }],
  ])("pass [DONE] through as the last event when %s", async (_, extra) => {
    const key = await createKey();
    const response = await chat(key.key, { messages: MESSAGES, stream: true, max_tokens: 3, ...extra });
    const events = sseEvents(await response.text());
    expect(events.filter((event) => event.data === "[DONE]")).toHaveLength(1);
    expect(events.at(-1)!.data).toBe("[DONE]");
    await settled(key.key);
  });
});

const PROMPT = "Once upon a time, in a streamed completion,";
const PROMPT_TOKENS = await mockPromptTokens({ model: "gpt-4o-mini", prompt: PROMPT }, "/completions");

describe("streamed legacy completions", () => {

  it("get include_usage injected and stripped, and are charged exactly the upstream usage", async () => {
    const key = await createKey();
    const seen = fakeUpstream();
    const response = await post(UPSTREAM, "/v1/completions", key.key, { model: "gpt-4o-mini", prompt: PROMPT, stream: true, max_tokens: 7 });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(seen[0]!.body.stream_options).toEqual({ include_usage: true });
    const payloads = ssePayloads(text);
    expect(usagesSeen(payloads)).toEqual([]);
    expect(contentOf(payloads)).toBe("tok ".repeat(7));
    expect(sseEvents(text).at(-1)!.data).toBe("[DONE]");
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(PROMPT_TOKENS + 7);
    expect(info.spend).toBe(usdFor(PRICE, PROMPT_TOKENS, 7));
  });

  it("pass the usage chunk through when the client asked for it", async () => {
    const key = await createKey();
    const response = await call("/v1/completions", {
      token: key.key,
      headers: { "x-mock-completion-tokens": "4" },
      body: { model: "gpt-4o-mini", prompt: PROMPT, stream: true, max_tokens: 4, stream_options: { include_usage: true } },
    });
    const chunks = usageChunks(ssePayloads(await response.text()));
    expect(chunks.map((chunk) => chunk.usage)).toEqual([{ prompt_tokens: PROMPT_TOKENS, completion_tokens: 4, total_tokens: PROMPT_TOKENS + 4 }]);
    expect((await settled(key.key)).usage.tokens).toBe(PROMPT_TOKENS + 4);
  });

  it("without usage (x-mock-omit-usage) settle conservatively: at least the real usage, never zero, nothing left reserved", async () => {
    const key = await createKey();
    const response = await call("/v1/completions", {
      token: key.key,
      headers: { "x-mock-omit-usage": "true", "x-mock-completion-tokens": "9" },
      body: { model: "gpt-4o-mini", prompt: PROMPT, stream: true, max_tokens: 9 },
    });
    const payloads = ssePayloads(await response.text());
    expect(usagesSeen(payloads)).toEqual([]);
    const streamed = payloads.filter((payload) => payload.choices?.[0]?.text === "tok ").length;
    expect(streamed).toBe(9);
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBeGreaterThan(0);
    expect(info.usage.tokens).toBeGreaterThanOrEqual(PROMPT_TOKENS + streamed);
    expect(info.spend).toBeGreaterThanOrEqual(usdFor(PRICE, PROMPT_TOKENS, streamed));
  });
});

const INPUT = "Tell me about streaming responses.";
const INPUT_TOKENS = await mockPromptTokens({ model: "gpt-4o-mini", input: INPUT }, "/responses");

describe("streamed responses", () => {

  it("are charged exactly the usage in response.completed, which reaches the client", async () => {
    const key = await createKey();
    const seen = fakeUpstream();
    const response = await post(UPSTREAM, "/v1/responses", key.key, { model: "gpt-4o-mini", input: INPUT, stream: true, max_output_tokens: 6 });
    expect(response.status).toBe(200);
    const events = sseEvents(await response.text());
    // The Responses API has no stream_options: nothing is injected.
    expect(seen[0]!.body.stream_options).toBeUndefined();
    const completed = events.filter((event) => event.event === "response.completed");
    expect(completed).toHaveLength(1);
    const usage = (JSON.parse(completed[0]!.data) as Record<string, any>).response.usage;
    expect(usage.input_tokens).toBe(INPUT_TOKENS);
    expect(usage.output_tokens).toBe(6);
    expect(events.filter((event) => event.event === "response.output_text.delta")).toHaveLength(6);
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(INPUT_TOKENS + 6);
    expect(info.spend).toBe(usdFor(PRICE, INPUT_TOKENS, 6));
  });

  it("without usage settle conservatively: at least the real usage, never zero, nothing left reserved", async () => {
    const key = await createKey();
    const response = await call("/v1/responses", {
      token: key.key,
      headers: { "x-mock-omit-usage": "true", "x-mock-completion-tokens": "8" },
      body: { model: "gpt-4o-mini", input: INPUT, stream: true, max_output_tokens: 8 },
    });
    const events = sseEvents(await response.text());
    const streamed = events.filter((event) => event.event === "response.output_text.delta").length;
    expect(streamed).toBe(8);
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBeGreaterThan(0);
    expect(info.usage.tokens).toBeGreaterThanOrEqual(INPUT_TOKENS + streamed);
    expect(info.spend).toBeGreaterThanOrEqual(usdFor(PRICE, INPUT_TOKENS, streamed));
  });
});

describe("settlement of a stream runs inside the request's waitUntil", () => {
  /**
   * The Worker's env with KEYS wrapped so that `finish` (the settlement RPC) takes 150 ms and records when it
   * completed. Whatever the runtime waits for after the response (waitUntil) must include that RPC, or a
   * deployed Worker can be torn down with the call still reserved.
   */
  function slowFinishEnv(log: string[]) {
    const keys = env.KEYS;
    const wrapped = {
      idFromName: (name: string) => keys.idFromName(name),
      get: (id: DurableObjectId) => {
        const stub = keys.get(id) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
        return new Proxy(stub, {
          get(target, property) {
            if (typeof property !== "string" || property === "then") return undefined;
            if (property === "finish") {
              return async (...args: unknown[]) => {
                await new Promise((resolve) => setTimeout(resolve, 150));
                const result = await target.finish!(...args);
                log.push("finished");
                return result;
              };
            }
            return (...args: unknown[]) => target[property]!(...args);
          },
        });
      },
    };
    return { ...env, KEYS: wrapped } as unknown as typeof env;
  }

  it.each([
    ["a JSON answer (control)", false],
    ["a streamed answer", true],
  ])("%s: the execution context is not done before the key has settled", async (_, stream) => {
    const key = await createKey();
    const log: string[] = [];
    const ctx = createExecutionContext();
    const response = await app.fetch(
      new Request("http://gateway.test/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json", "x-mock-completion-tokens": "3" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: MESSAGES, max_tokens: 3, stream }),
      }),
      slowFinishEnv(log),
      ctx,
    );
    expect(response.status).toBe(200);
    await response.text();
    await waitOnExecutionContext(ctx);
    log.push("context done");
    // For a stream, the `done` handed to waitUntil must include the settlement meterStream's onEnd starts.
    expect(log).toEqual(["finished", "context done"]);
    expect((await settled(key.key)).usage.tokens).toBe(CHAT_PROMPT + 3);
  });
});
