import { describe, expect, it } from "vitest";
import { countPromptTokens } from "../../../src/mock-upstream";
import { chat, createKey, json, keyInfo, settled } from "../../helpers/gateway";
import { nanos, NANO_PRICES, post, spendLogs, ssePayloads, usdFor } from "../../helpers/proxy";

const MINI = NANO_PRICES["gpt-4o-mini"];
const MESSAGES = [{ role: "user", content: "How much does this cost?" }];
const PROMPT = countPromptTokens({ messages: MESSAGES }, "/chat/completions");

const chatBody = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: MESSAGES, max_tokens: 4, ...extra });

describe("the cost the upstream reports wins over the price table", () => {
  it("charges exactly x-litellm-response-cost and echoes it to the client", async () => {
    const key = await createKey({ max_budget: 5 });
    const response = await chat(key.key, { messages: MESSAGES, max_tokens: 4 }, { "x-mock-response-cost": "0.0123" });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-litellm-response-cost")).toBe("0.0123");
    expect(response.headers.get("x-litellm-key-spend")).toBe("0.0123");
    await response.text();
    const info = await settled(key.key);
    expect(info.spend).toBe(0.0123);
    // The tokens are still the real usage.
    expect(info.usage.tokens).toBe(PROMPT + 4);
  });

  it("adds exactly the reported cost to what the key had already spent", async () => {
    const key = await createKey({ max_budget: 5 });
    await (await chat(key.key, { messages: MESSAGES, max_tokens: 4 })).text();
    const before = (await settled(key.key)).spend;
    expect(before).toBe(usdFor(MINI, PROMPT, 4));
    await (await chat(key.key, { messages: MESSAGES, max_tokens: 4 }, { "x-mock-response-cost": "0.0123" })).text();
    const after = (await settled(key.key)).spend;
    expect(nanos(after) - nanos(before)).toBe(12_300_000);
  });

  it("applies to streams too: charged exactly the reported cost, header passed through", async () => {
    const key = await createKey({ max_budget: 5 });
    const response = await chat(key.key, { messages: MESSAGES, max_tokens: 4, stream: true }, { "x-mock-response-cost": "0.0123" });
    expect(response.headers.get("x-litellm-response-cost")).toBe("0.0123");
    await response.text();
    expect((await settled(key.key)).spend).toBe(0.0123);
  });
});

describe("the price table", () => {
  it("is used when the upstream's reported cost is not a usable amount (negative)", async () => {
    const key = await createKey({ max_budget: 5 });
    const response = await chat(key.key, { messages: MESSAGES, max_tokens: 4 }, { "x-mock-response-cost": "-1" });
    expect(response.status).toBe(200);
    expect(Number(response.headers.get("x-litellm-response-cost"))).toBe(usdFor(MINI, PROMPT, 4));
    await response.text();
    expect((await settled(key.key)).spend).toBe(usdFor(MINI, PROMPT, 4));
  });


  it("prices a call when the upstream reports no cost, and says so in x-litellm-response-cost", async () => {
    const key = await createKey({ max_budget: 5 });
    const response = await chat(key.key, { messages: MESSAGES, max_tokens: 4 });
    const expected = usdFor(MINI, PROMPT, 4);
    expect(Number(response.headers.get("x-litellm-response-cost"))).toBe(expected);
    await response.text();
    expect((await settled(key.key)).spend).toBe(expected);
  });

  it("MODEL_PRICES prices a custom model a budgeted key could not use without it", async () => {
    const key = await createKey({ max_budget: 5 });
    const refused = await post({}, "/v1/chat/completions", key.key, chatBody("acme-llm-1"));
    expect(refused.status).toBe(400);
    expect((await json(refused)).error.code).toBe("model_price_unknown");

    const prices = JSON.stringify({ "acme-llm-1": { input_cost_per_token: 1e-6, output_cost_per_token: 3e-6 } });
    const response = await post({ MODEL_PRICES: prices }, "/v1/chat/completions", key.key, chatBody("acme-llm-1"));
    expect(response.status).toBe(200);
    await response.text();
    const info = await settled(key.key);
    expect(info.usage.tokens).toBe(PROMPT + 4);
    expect(info.spend).toBe(usdFor({ input: 1_000, output: 3_000 }, PROMPT, 4));
  });

  it("MODEL_PRICES overrides a built-in price", async () => {
    const key = await createKey({ max_budget: 5 });
    const prices = JSON.stringify({ "gpt-4o-mini": { input_cost_per_token: 2e-6, output_cost_per_token: 5e-6 } });
    const response = await post({ MODEL_PRICES: prices }, "/v1/chat/completions", key.key, chatBody("gpt-4o-mini"));
    expect(response.status).toBe(200);
    expect(Number(response.headers.get("x-litellm-response-cost"))).toBe(usdFor({ input: 2_000, output: 5_000 }, PROMPT, 4));
    await response.text();
    expect((await settled(key.key)).spend).toBe(usdFor({ input: 2_000, output: 5_000 }, PROMPT, 4));
  });

  it('the "*" fallback price admits an unknown model under a budget and prices it', async () => {
    const key = await createKey({ max_budget: 5 });
    const prices = JSON.stringify({ "*": { input_cost_per_token: 3e-7, output_cost_per_token: 9e-7 } });
    const refused = await post({}, "/v1/chat/completions", key.key, chatBody("mystery-model-9"));
    expect(refused.status).toBe(400);
    await refused.text();
    const response = await post({ MODEL_PRICES: prices }, "/v1/chat/completions", key.key, chatBody("mystery-model-9"));
    expect(response.status).toBe(200);
    await response.text();
    const info = await settled(key.key);
    expect(info.spend).toBe(usdFor({ input: 300, output: 900 }, PROMPT, 4));
    // The fallback does not replace a known model's own price.
    await (await post({ MODEL_PRICES: prices }, "/v1/chat/completions", key.key, chatBody("gpt-4o-mini"))).text();
    expect(nanos((await settled(key.key)).spend) - nanos(info.spend)).toBe(nanos(usdFor(MINI, PROMPT, 4)));
  });
});

describe("x-litellm-key-spend", () => {
  it("equals the key's spend after each call", async () => {
    const key = await createKey({ max_budget: 5 });
    const steps: Array<Record<string, string>> = [{}, { "x-mock-response-cost": "0.0021" }, {}];
    for (const headers of steps) {
      const response = await chat(key.key, { messages: MESSAGES, max_tokens: 4 }, headers);
      const header = response.headers.get("x-litellm-key-spend");
      await response.text();
      const info = await settled(key.key);
      expect(header).not.toBeNull();
      expect(Number(header)).toBe(info.spend);
    }
  });
});

describe("the spend ledger", () => {
  it("sums to /key/info's spend after successful, failed, streamed, truncated and embedding calls", async () => {
    const key = await createKey({ max_budget: 5 });
    const calls: Array<{ id: string; kind: string; status: number }> = [];
    const run = async (kind: string, response: Promise<Response>) => {
      const done = await response;
      calls.push({ id: done.headers.get("x-litellm-call-id")!, kind, status: done.status });
      await done.text();
    };
    await run("ok", chat(key.key, { messages: MESSAGES, max_tokens: 4 }));
    await run("failed", chat(key.key, {}, { "x-mock-status": "500" }));
    await run("streamed", chat(key.key, { messages: MESSAGES, max_tokens: 6, stream: true }));
    await run("truncated", chat(key.key, { messages: MESSAGES, max_tokens: 20, stream: true }, { "x-mock-stream-truncate-after": "3" }));
    await run("priced upstream", chat(key.key, {}, { "x-mock-response-cost": "0.0007" }));
    await run("embedding", post({}, "/v1/embeddings", key.key, { model: "text-embedding-3-small", input: ["x", "yy"] }));
    await run("no usage", chat(key.key, {}, { "x-mock-omit-usage": "true" }));
    expect(calls.map((c) => c.status)).toEqual([200, 502, 200, 200, 200, 200, 200]);

    const info = await settled(key.key);
    expect(info.spend).toBeGreaterThan(0);
    const lines = await spendLogs(key.key);
    expect(lines.reduce((sum, line) => sum + nanos(line.spend), 0)).toBe(nanos(info.spend));
    expect(lines.reduce((sum, line) => sum + line.total_tokens, 0)).toBe(info.usage.tokens);
    // One line per call, newest first, each carrying the call id the client saw.
    expect(lines.map((line) => line.request_id)).toEqual(calls.map((c) => c.id).reverse());
    const failed = lines.find((line) => line.request_id === calls[1]!.id)!;
    expect(failed).toMatchObject({ outcome: "released", spend: 0, total_tokens: 0 });
    expect(lines.find((line) => line.request_id === calls[4]!.id)!.spend).toBe(0.0007);
  });

  it("lines carry request_id equal to the response's x-litellm-call-id, and the call's model and cost", async () => {
    const key = await createKey();
    const response = await chat(key.key, { messages: MESSAGES, max_tokens: 4 });
    const id = response.headers.get("x-litellm-call-id");
    const cost = Number(response.headers.get("x-litellm-response-cost"));
    await response.text();
    const stream = await chat(key.key, { messages: MESSAGES, max_tokens: 4, stream: true });
    const streamId = stream.headers.get("x-litellm-call-id");
    expect(ssePayloads(await stream.text()).length).toBeGreaterThan(0);
    await settled(key.key);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const lines = await spendLogs(key.key);
    expect(lines.map((line) => line.request_id)).toEqual([streamId, id]);
    expect(lines[1]).toMatchObject({ request_id: id, model: "gpt-4o-mini", spend: cost, total_tokens: PROMPT + 4, outcome: "settled" });
    expect((await keyInfo(key.key)).spend).toBe(nanos(lines[0]!.spend + lines[1]!.spend) / 1e9);
  });
});
