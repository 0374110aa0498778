import fc from "fast-check";
import { sseEvents, type SseEvent } from "../helpers/proxy";
import { describe, expect, it } from "vitest";
import { countPromptTokens, MEDIAN_COMPLETION_TOKENS, mockUpstream, naturalCompletionTokens } from "../../src/mock-upstream";

type Json = Record<string, unknown>;

function post(path: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Request {
  return new Request(`http://mock${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal,
  });
}

async function json(response: Response): Promise<Json> {
  return (await response.json()) as Json;
}

type SseMessage = SseEvent;

async function sse(response: Response): Promise<{ messages: SseMessage[]; chunks: Json[]; done: boolean }> {
  const messages = sseEvents(await response.text());
  const done = messages.some((m) => m.data === "[DONE]");
  const chunks = messages.filter((m) => m.data !== "[DONE]").map((m) => JSON.parse(m.data) as Json);
  return { messages, chunks, done };
}

interface ChatChoice {
  delta?: { content?: string; role?: string };
  text?: string;
  finish_reason: string | null;
}

function choices(chunk: Json): ChatChoice[] {
  return chunk.choices as ChatChoice[];
}

function chatContent(chunks: Json[]): string {
  return chunks.flatMap(choices).map((c) => c.delta?.content ?? c.text ?? "").join("");
}

function contentChunkCount(chunks: Json[]): number {
  return chunks.flatMap(choices).filter((c) => (c.delta?.content ?? c.text ?? "") !== "").length;
}

function usageChunks(chunks: Json[]): Json[] {
  return chunks.filter((c) => c.usage !== undefined && c.usage !== null);
}

function wordCount(text: string): number {
  return text.split(" ").filter((w) => w !== "").length;
}

const messages = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Hello there, how are you?" },
];
/** What the mock would write for `messages` if no cap stopped it (deterministic: a hash of the prompt). */
const NATURAL = naturalCompletionTokens({ messages }, "/chat/completions");

/** Resolves to "pending" if `promise` has not settled within `ms`. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<"settled" | "pending"> {
  const timeout = new Promise<"pending">((resolve) => setTimeout(() => resolve("pending"), ms));
  return Promise.race([promise.then(() => "settled" as const), timeout]);
}

describe("mock upstream: chat completions", () => {
  it("the prompt used below answers naturally with more tokens than any cap these tests set", () => {
    expect(NATURAL).toBeGreaterThan(10);
  });

  it("cuts the natural answer at max_tokens: exactly max_tokens completion tokens and finish_reason length", async () => {
    const res = await mockUpstream(post("/v1/chat/completions", { model: "gpt-4o", messages, max_tokens: 5 }));
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.object).toBe("chat.completion");
    expect(body.model).toBe("gpt-4o");
    expect(String(body.id)).toMatch(/^chatcmpl-mock-/);
    expect(typeof body.created).toBe("number");
    const choice = (body.choices as Array<{ message: { role: string; content: string }; finish_reason: string }>)[0];
    expect(choice?.message.role).toBe("assistant");
    expect(choice?.message.content).toBe("tok ".repeat(5));
    expect(choice?.finish_reason).toBe("length");
    const promptTokens = countPromptTokens({ messages }, "/v1/chat/completions");
    expect(body.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: 5, total_tokens: promptTokens + 5 });
  });

  it("prefers max_completion_tokens over max_tokens", async () => {
    const res = await mockUpstream(
      post("/v1/chat/completions", { model: "gpt-4o", messages, max_tokens: 3, max_completion_tokens: 7 }),
    );
    const body = await json(res);
    expect((body.usage as Json).completion_tokens).toBe(7);
  });

  it("without a cap answers with the prompt's natural length and finish_reason stop", async () => {
    const body = await json(await mockUpstream(post("/v1/chat/completions", { model: "gpt-4o", messages })));
    expect((body.usage as Json).completion_tokens).toBe(NATURAL);
    const choice = (body.choices as Array<{ message: { content: string }; finish_reason: string }>)[0];
    expect(wordCount(choice?.message.content ?? "")).toBe(NATURAL);
    expect(choice?.finish_reason).toBe("stop");
  });

  it("stops on its own below a larger cap (finish_reason stop) and reports length when the cap is exactly reached", async () => {
    const roomy = await json(await mockUpstream(post("/v1/chat/completions", { messages, max_tokens: NATURAL + 50 })));
    expect((roomy.usage as Json).completion_tokens).toBe(NATURAL);
    expect((roomy.choices as Array<{ finish_reason: string }>)[0]?.finish_reason).toBe("stop");
    const exact = await json(await mockUpstream(post("/v1/chat/completions", { messages, max_tokens: NATURAL })));
    expect((exact.usage as Json).completion_tokens).toBe(NATURAL);
    expect((exact.choices as Array<{ finish_reason: string }>)[0]?.finish_reason).toBe("length");
  });

  it("answers the same prompt with the same length every time, and different prompts with different lengths", async () => {
    const again = await json(await mockUpstream(post("/v1/chat/completions", { messages })));
    expect((again.usage as Json).completion_tokens).toBe(NATURAL);
    const lengths = new Set<number>();
    for (let i = 0; i < 20; i += 1) {
      const other = [{ role: "user", content: `question number ${i}` }];
      const body = await json(await mockUpstream(post("/v1/chat/completions", { messages: other })));
      const tokens = (body.usage as Json).completion_tokens as number;
      expect(tokens).toBe(naturalCompletionTokens({ messages: other }, "/chat/completions"));
      lengths.add(tokens);
    }
    expect(lengths.size).toBeGreaterThan(10);
  });

  it("honours max_tokens: 0 exactly and treats null caps as absent", async () => {
    const zero = await json(await mockUpstream(post("/v1/chat/completions", { messages, max_tokens: 0 })));
    expect((zero.usage as Json).completion_tokens).toBe(0);
    expect((zero.choices as Array<{ finish_reason: string }>)[0]?.finish_reason).toBe("length");
    const nulls = await json(
      await mockUpstream(post("/v1/chat/completions", { messages, max_tokens: null, max_completion_tokens: null })),
    );
    expect((nulls.usage as Json).completion_tokens).toBe(NATURAL);
  });

  it("accepts paths without the /v1 prefix", async () => {
    const res = await mockUpstream(post("/chat/completions", { messages, max_tokens: 2 }));
    expect(res.status).toBe(200);
    expect(((await json(res)).usage as Json).completion_tokens).toBe(2);
  });

  it("rejects invalid caps with an OpenAI-shaped 400", async () => {
    const res = await mockUpstream(post("/v1/chat/completions", { messages, max_tokens: -1 }));
    expect(res.status).toBe(400);
    const body = await json(res);
    expect((body.error as Json).type).toBe("invalid_request_error");
    expect((body.error as Json).param).toBe("max_tokens");
  });
});

describe("mock upstream: streaming", () => {
  it("streams one content chunk per token that reassembles to the non-streamed content", async () => {
    const res = await mockUpstream(
      post("/v1/chat/completions", { model: "gpt-4o-mini", messages, max_tokens: 9, stream: true }),
    );
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const { chunks, done, messages: raw } = await sse(res);
    expect(done).toBe(true);
    expect(raw.at(-1)?.data).toBe("[DONE]");
    expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.model === "gpt-4o-mini")).toBe(true);
    expect(chatContent(chunks)).toBe("tok ".repeat(9));
    expect(contentChunkCount(chunks)).toBe(9);
    const finishes = chunks.flatMap(choices).map((c) => c.finish_reason).filter((f) => f !== null);
    expect(finishes).toEqual(["length"]);
  });

  it("includes a usage chunk with empty choices only when stream_options.include_usage is true", async () => {
    const without = await sse(
      await mockUpstream(post("/v1/chat/completions", { messages, max_tokens: 4, stream: true })),
    );
    expect(usageChunks(without.chunks)).toHaveLength(0);
    expect(without.chunks.some((c) => "usage" in c)).toBe(false);

    const off = await sse(
      await mockUpstream(
        post("/v1/chat/completions", { messages, max_tokens: 4, stream: true, stream_options: { include_usage: false } }),
      ),
    );
    expect(usageChunks(off.chunks)).toHaveLength(0);

    const withUsage = await sse(
      await mockUpstream(
        post("/v1/chat/completions", { messages, max_tokens: 4, stream: true, stream_options: { include_usage: true } }),
      ),
    );
    const usage = usageChunks(withUsage.chunks);
    expect(usage).toHaveLength(1);
    expect(usage[0]?.choices).toEqual([]);
    const promptTokens = countPromptTokens({ messages }, "/chat/completions");
    expect(usage[0]?.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: 4, total_tokens: promptTokens + 4 });
    // The usage chunk is the last JSON chunk, right before [DONE].
    expect(withUsage.chunks.at(-1)).toBe(usage[0]);
    expect(withUsage.done).toBe(true);
  });

  it("truncation fault ends the stream after N content chunks with no finish, usage or [DONE]", async () => {
    const res = await mockUpstream(
      post(
        "/v1/chat/completions",
        { messages, max_tokens: 10, stream: true, stream_options: { include_usage: true } },
        { "x-mock-stream-truncate-after": "3" },
      ),
    );
    const { chunks, done } = await sse(res);
    expect(done).toBe(false);
    expect(contentChunkCount(chunks)).toBe(3);
    expect(usageChunks(chunks)).toHaveLength(0);
    expect(chunks.flatMap(choices).every((c) => c.finish_reason === null)).toBe(true);
  });

  it("streams legacy completions with the same token and usage rules", async () => {
    const res = await mockUpstream(
      post("/v1/completions", {
        model: "gpt-3.5-turbo",
        prompt: "Say something",
        max_tokens: 6,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const { chunks, done } = await sse(res);
    expect(done).toBe(true);
    expect(chunks.every((c) => c.object === "text_completion")).toBe(true);
    expect(chatContent(chunks)).toBe("tok ".repeat(6));
    expect(contentChunkCount(chunks)).toBe(6);
    const usage = usageChunks(chunks);
    expect(usage).toHaveLength(1);
    expect(usage[0]?.usage).toEqual({
      prompt_tokens: Math.ceil("Say something".length / 4),
      completion_tokens: 6,
      total_tokens: Math.ceil("Say something".length / 4) + 6,
    });
  });

  it("stops producing and errors the stream when the request is aborted", async () => {
    const controller = new AbortController();
    const res = await mockUpstream(
      post(
        "/v1/chat/completions",
        { messages, max_tokens: 1000, stream: true },
        { "x-mock-chunk-delay-ms": "5" },
        controller.signal,
      ),
    );
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    controller.abort();
    await expect(reader.read()).rejects.toMatchObject({ name: "AbortError" });
  });
});

describe("mock upstream: legacy completions", () => {
  it("returns a text_completion with exact token counts", async () => {
    const prompt = ["first prompt", "second"];
    const res = await mockUpstream(post("/completions", { model: "gpt-3.5-turbo-instruct", prompt, max_tokens: 3 }));
    const body = await json(res);
    expect(body.object).toBe("text_completion");
    expect(String(body.id)).toMatch(/^cmpl-mock-/);
    const choice = (body.choices as Array<{ text: string; finish_reason: string }>)[0];
    expect(choice?.text).toBe("tok tok tok ");
    expect(choice?.finish_reason).toBe("length");
    expect(body.usage).toEqual({ prompt_tokens: 3 + 2, completion_tokens: 3, total_tokens: 8 });
  });
});

describe("mock upstream: fault injection", () => {
  it("omits the usage object and usage chunk when x-mock-omit-usage is true", async () => {
    const plain = await json(
      await mockUpstream(post("/v1/chat/completions", { messages }, { "x-mock-omit-usage": "true" })),
    );
    expect("usage" in plain).toBe(false);

    const streamed = await sse(
      await mockUpstream(
        post(
          "/v1/chat/completions",
          { messages, stream: true, stream_options: { include_usage: true } },
          { "x-mock-omit-usage": "true" },
        ),
      ),
    );
    expect(streamed.chunks.some((c) => "usage" in c)).toBe(false);
    expect(streamed.done).toBe(true);

    const responses = await json(
      await mockUpstream(post("/v1/responses", { input: "hi" }, { "x-mock-omit-usage": "true" })),
    );
    expect("usage" in responses).toBe(false);
  });

  it("returns the injected status with an OpenAI error body", async () => {
    const res = await mockUpstream(post("/v1/chat/completions", { messages }, { "x-mock-status": "500" }));
    expect(res.status).toBe(500);
    const body = await json(res);
    const error = body.error as Json;
    expect(Object.keys(error).sort()).toEqual(["code", "message", "param", "type"]);
    expect(error.type).toBe("server_error");
    expect(res.headers.get("retry-after")).toBeNull();

    const limited = await mockUpstream(post("/v1/chat/completions", { messages }, { "x-mock-status": "429" }));
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("1");
    expect(((await json(limited)).error as Json).code).toBe("rate_limit_exceeded");

    const unavailable = await mockUpstream(post("/v1/embeddings", { input: "x" }, { "x-mock-status": "503" }));
    expect(unavailable.status).toBe(503);
  });

  it("echoes x-mock-response-cost as x-litellm-response-cost", async () => {
    const res = await mockUpstream(post("/v1/chat/completions", { messages }, { "x-mock-response-cost": "0.0123" }));
    expect(res.headers.get("x-litellm-response-cost")).toBe("0.0123");
    const streamed = await mockUpstream(
      post("/v1/chat/completions", { messages, stream: true }, { "x-mock-response-cost": "0.5" }),
    );
    expect(streamed.headers.get("x-litellm-response-cost")).toBe("0.5");
    await streamed.body?.cancel();
    const none = await mockUpstream(post("/v1/chat/completions", { messages }));
    expect(none.headers.get("x-litellm-response-cost")).toBeNull();
  });

  it("delays the response by x-mock-latency-ms", async () => {
    const slow = mockUpstream(post("/v1/chat/completions", { messages }, { "x-mock-latency-ms": "300" }));
    expect(await settledWithin(slow, 100)).toBe("pending");
    expect((await slow).status).toBe(200);

    const fast = mockUpstream(post("/v1/chat/completions", { messages }));
    expect(await settledWithin(fast, 100)).toBe("settled");
  });

  it("delays each streamed chunk by x-mock-chunk-delay-ms", async () => {
    const res = await mockUpstream(
      post("/v1/chat/completions", { messages, max_tokens: 2, stream: true }, { "x-mock-chunk-delay-ms": "200" }),
    );
    const reader = res.body!.getReader();
    expect(await settledWithin(reader.read(), 50)).toBe("pending");
    await reader.cancel();
  });

  it("rejects like fetch when aborted during artificial latency", async () => {
    const controller = new AbortController();
    const pending = mockUpstream(
      post("/v1/chat/completions", { messages }, { "x-mock-latency-ms": "5000" }, controller.signal),
    );
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
  });
});

describe("mock upstream: answer length", () => {
  const lengths = (median?: number) =>
    Array.from({ length: 4000 }, (_, i) => naturalCompletionTokens({ messages: [{ role: "user", content: `prompt ${i}` }] }, "/chat/completions", median)).sort(
      (a, b) => a - b,
    );
  const quantile = (sorted: number[], q: number) => sorted[Math.floor(q * sorted.length)]!;

  it("natural lengths are long-tailed around a median of 300 tokens", () => {
    expect(MEDIAN_COMPLETION_TOKENS).toBe(300);
    const sorted = lengths();
    expect(sorted[0]).toBeGreaterThanOrEqual(1);
    expect(quantile(sorted, 0.5)).toBeGreaterThan(270);
    expect(quantile(sorted, 0.5)).toBeLessThan(330);
    // Log-normal: the tail above the median is far longer than the body below it.
    expect(quantile(sorted, 0.9)).toBeGreaterThan(3 * quantile(sorted, 0.5));
    expect(quantile(sorted, 0.1)).toBeGreaterThan(quantile(sorted, 0.5) / 6);
    const mean = sorted.reduce((sum, n) => sum + n, 0) / sorted.length;
    expect(mean).toBeGreaterThan(1.3 * quantile(sorted, 0.5));
  });

  it("x-mock-length-median sets the median of natural lengths", async () => {
    const sorted = lengths(40);
    expect(quantile(sorted, 0.5)).toBeGreaterThan(35);
    expect(quantile(sorted, 0.5)).toBeLessThan(45);
    const body = await json(await mockUpstream(post("/v1/chat/completions", { messages }, { "x-mock-length-median": "40" })));
    expect((body.usage as Json).completion_tokens).toBe(naturalCompletionTokens({ messages }, "/chat/completions", 40));
  });

  it("x-mock-completion-tokens forces exactly N tokens, below the cap (stop), past it (length) or without one", async () => {
    const below = await json(await mockUpstream(post("/v1/chat/completions", { messages, max_tokens: 5 }, { "x-mock-completion-tokens": "3" })));
    expect((below.usage as Json).completion_tokens).toBe(3);
    expect((below.choices as Array<{ finish_reason: string }>)[0]?.finish_reason).toBe("stop");
    const past = await json(await mockUpstream(post("/v1/chat/completions", { messages, max_tokens: 5 }, { "x-mock-completion-tokens": "12" })));
    expect((past.usage as Json).completion_tokens).toBe(12);
    expect((past.choices as Array<{ message: { content: string }; finish_reason: string }>)[0]).toMatchObject({
      message: { content: "tok ".repeat(12) },
      finish_reason: "length",
    });
    const uncapped = await json(await mockUpstream(post("/v1/chat/completions", { messages }, { "x-mock-completion-tokens": "7" })));
    expect((uncapped.usage as Json).completion_tokens).toBe(7);
    expect((uncapped.choices as Array<{ finish_reason: string }>)[0]?.finish_reason).toBe("stop");
    const longer = await json(await mockUpstream(post("/v1/chat/completions", { messages }, { "x-mock-completion-tokens": String(NATURAL + 100) })));
    expect((longer.usage as Json).completion_tokens).toBe(NATURAL + 100);
  });

  it("x-mock-completion-tokens streams past the cap on every generating endpoint", async () => {
    const force = { "x-mock-completion-tokens": "12" };
    const chat = await sse(
      await mockUpstream(post("/v1/chat/completions", { messages, max_tokens: 4, stream: true, stream_options: { include_usage: true } }, force)),
    );
    expect(contentChunkCount(chat.chunks)).toBe(12);
    expect(usageChunks(chat.chunks)[0]?.usage).toMatchObject({ completion_tokens: 12 });
    const legacy = await json(await mockUpstream(post("/v1/completions", { prompt: "Say something", max_tokens: 4 }, force)));
    expect((legacy.usage as Json).completion_tokens).toBe(12);
    const responses = await json(await mockUpstream(post("/v1/responses", { input: "hello", max_output_tokens: 4 }, force)));
    expect(responses.usage).toMatchObject({ output_tokens: 12 });
  });

  it("ignores malformed length headers", async () => {
    for (const value of ["-1", "1.5", "many", ""]) {
      const body = await json(
        await mockUpstream(
          post("/v1/chat/completions", { messages, max_tokens: 5 }, { "x-mock-completion-tokens": value, "x-mock-length-median": value }),
        ),
      );
      expect((body.usage as Json).completion_tokens).toBe(5);
    }
  });

  it("embeddings generate nothing, whatever the length headers say", async () => {
    const body = await json(
      await mockUpstream(post("/v1/embeddings", { input: "hello world" }, { "x-mock-completion-tokens": "9", "x-mock-length-median": "50" })),
    );
    expect(body.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
  });
});

describe("mock upstream: embeddings", () => {
  type Embedding = { object: string; index: number; embedding: number[] | string };

  it("embeds a single string as one deterministic 8-float vector", async () => {
    const req = () => post("/v1/embeddings", { model: "text-embedding-3-small", input: "hello world" });
    const body = await json(await mockUpstream(req()));
    expect(body.object).toBe("list");
    expect(body.model).toBe("text-embedding-3-small");
    const data = body.data as Embedding[];
    expect(data).toHaveLength(1);
    expect(data[0]?.object).toBe("embedding");
    expect(data[0]?.index).toBe(0);
    const vector = data[0]?.embedding as number[];
    expect(vector).toHaveLength(8);
    expect(vector.every((v) => Number.isFinite(v))).toBe(true);
    const again = (await json(await mockUpstream(req()))).data as Embedding[];
    expect(again[0]?.embedding).toEqual(vector);
    expect(body.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
  });

  it("embeds arrays of strings, token ids and arrays of token ids", async () => {
    const strings = await json(await mockUpstream(post("/v1/embeddings", { input: ["a", "bb", "ccccc"] })));
    expect((strings.data as Embedding[]).map((d) => d.index)).toEqual([0, 1, 2]);
    expect(strings.usage).toEqual({ prompt_tokens: 1 + 1 + 2, total_tokens: 4 });

    const ids = await json(await mockUpstream(post("/v1/embeddings", { input: [1, 2, 3, 4] })));
    expect(ids.data as Embedding[]).toHaveLength(1);
    expect(ids.usage).toEqual({ prompt_tokens: 4, total_tokens: 4 });

    const nested = await json(await mockUpstream(post("/v1/embeddings", { input: [[1, 2], [3]] })));
    const data = nested.data as Embedding[];
    expect(data).toHaveLength(2);
    expect(data.every((d) => (d.embedding as number[]).length === 8)).toBe(true);
    expect(data[0]?.embedding).not.toEqual(data[1]?.embedding);
    expect(nested.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
  });

  it("returns base64 float32 vectors when encoding_format is base64", async () => {
    const floats = await json(await mockUpstream(post("/v1/embeddings", { input: "x" })));
    const b64 = await json(await mockUpstream(post("/v1/embeddings", { input: "x", encoding_format: "base64" })));
    const encoded = (b64.data as Embedding[])[0]?.embedding as string;
    const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
    const decoded = Array.from(new Float32Array(bytes.buffer));
    const expected = (floats.data as Embedding[])[0]?.embedding as number[];
    expect(decoded).toHaveLength(8);
    decoded.forEach((v, i) => expect(v).toBeCloseTo(expected[i] ?? NaN, 6));
  });
});

describe("mock upstream: responses API", () => {
  it("reports input/output/total usage and caps output with max_output_tokens", async () => {
    const input = [{ role: "user", content: [{ type: "input_text", text: "Summarise this please" }] }];
    const body = await json(await mockUpstream(post("/v1/responses", { model: "gpt-4.1", input, max_output_tokens: 4 })));
    expect(body.object).toBe("response");
    expect(body.model).toBe("gpt-4.1");
    expect(body.output).toEqual([
      expect.objectContaining({
        type: "message",
        role: "assistant",
        content: [expect.objectContaining({ type: "output_text", text: "tok ".repeat(4) })],
      }),
    ]);
    const inputTokens = countPromptTokens({ input }, "/responses");
    expect(inputTokens).toBe(3 + 3 + Math.ceil("Summarise this please".length / 4));
    expect(body.usage).toMatchObject({ input_tokens: inputTokens, output_tokens: 4, total_tokens: inputTokens + 4 });
  });

  it("without max_output_tokens answers with the input's natural length", async () => {
    const natural = naturalCompletionTokens({ input: "abcdefgh" }, "/responses");
    expect(natural).toBeGreaterThan(0);
    const body = await json(await mockUpstream(post("/responses", { input: "abcdefgh" })));
    expect(body.usage).toMatchObject({ input_tokens: 2, output_tokens: natural, total_tokens: 2 + natural });
  });

  it("streams output_text deltas and carries usage on response.completed", async () => {
    const res = await mockUpstream(post("/v1/responses", { input: "hello", max_output_tokens: 5, stream: true }));
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const { messages: events, chunks } = await sse(res);
    const deltas = chunks.filter((c) => c.type === "response.output_text.delta");
    expect(deltas.map((d) => d.delta).join("")).toBe("tok ".repeat(5));
    expect(events.at(-1)?.event).toBe("response.completed");
    const completed = chunks.at(-1)?.response as Json;
    expect(completed.usage).toMatchObject({ input_tokens: 2, output_tokens: 5, total_tokens: 7 });
  });
});

describe("mock upstream: models and errors", () => {
  it("lists common models owned by edgequota-mock", async () => {
    const res = await mockUpstream(new Request("http://mock/v1/models"));
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.object).toBe("list");
    const data = body.data as Array<{ id: string; object: string; created: number; owned_by: string }>;
    expect(data.map((m) => m.id)).toEqual(
      expect.arrayContaining([
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-3.5-turbo",
        "text-embedding-3-small",
        "text-embedding-3-large",
      ]),
    );
    expect(data.every((m) => m.object === "model" && m.owned_by === "edgequota-mock" && m.created > 0)).toBe(true);
    expect((await mockUpstream(new Request("http://mock/models"))).status).toBe(200);
  });

  it("returns an OpenAI-shaped 404 for unknown routes", async () => {
    for (const req of [new Request("http://mock/v1/nope"), new Request("http://mock/v1/chat/completions")]) {
      const res = await mockUpstream(req);
      expect(res.status).toBe(404);
      const body = await json(res);
      expect(body).toEqual({
        error: { message: expect.any(String), type: "invalid_request_error", param: null, code: "not_found" },
      });
    }
  });

  it("returns an OpenAI-shaped 400 for an invalid JSON body", async () => {
    const res = await mockUpstream(post("/v1/chat/completions", "{not json"));
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body).toEqual({
      error: { message: expect.any(String), type: "invalid_request_error", param: null, code: expect.any(String) },
    });
  });
});

describe("countPromptTokens", () => {
  const encoder = new TextEncoder();
  const bytes = (value: unknown): number => encoder.encode(JSON.stringify(value) ?? "").length;

  const text = fc.string({ unit: "grapheme", maxLength: 40 });
  const contentPart = fc.oneof(
    fc.record({ type: fc.constant("text"), text }),
    fc.record({ type: fc.constant("image_url"), image_url: fc.record({ url: fc.webUrl() }) }),
  );
  const message = fc.record({
    role: fc.constantFrom("system", "user", "assistant"),
    content: fc.oneof(text, fc.array(contentPart, { maxLength: 3 })),
  });
  const messageArray = fc.array(message, { maxLength: 6 });
  const tokenIds = fc.array(fc.nat(200_000), { maxLength: 20 });
  const promptInput = fc.oneof(text, fc.array(text, { maxLength: 5 }), tokenIds, fc.array(tokenIds, { maxLength: 4 }));

  it("never exceeds the UTF-8 byte length of the serialised input", () => {
    fc.assert(
      fc.property(messageArray, (msgs) => countPromptTokens({ messages: msgs }, "/v1/chat/completions") <= bytes(msgs)),
    );
    fc.assert(fc.property(promptInput, (p) => countPromptTokens({ prompt: p }, "/v1/completions") <= bytes(p)));
    fc.assert(fc.property(promptInput, (i) => countPromptTokens({ input: i }, "/v1/embeddings") <= bytes(i)));
    fc.assert(
      fc.property(fc.oneof(text, messageArray), (i) => countPromptTokens({ input: i }, "/v1/responses") <= bytes(i)),
    );
    expect(countPromptTokens({ messages: [] }, "/v1/chat/completions")).toBeLessThanOrEqual(bytes([]));
  });

  it("matches what the mock reports as prompt usage", async () => {
    const body = { messages: [{ role: "user", content: "héllo wörld 👋" }] };
    expect(countPromptTokens(body, "/chat/completions")).toBe(3 + 3 + Math.ceil("héllo wörld 👋".length / 4));
    const usage = (await json(await mockUpstream(post("/v1/chat/completions", body)))).usage as Json;
    expect(usage.prompt_tokens).toBe(countPromptTokens(body, "/v1/chat/completions"));
  });
});
