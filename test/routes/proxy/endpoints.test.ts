import { afterEach, describe, expect, it, vi } from "vitest";
import { MOCK_MODEL_IDS } from "../../../src/mock-upstream";
import { mockPromptTokens } from "../../helpers/default-request";
import { call, createKey, json, settled } from "../../helpers/gateway";
import { callWith } from "../../helpers/with-env";
import { fakeUpstream, NANO_PRICES, post, UPSTREAM, usdFor } from "../../helpers/proxy";

afterEach(() => vi.restoreAllMocks());

const MINI = NANO_PRICES["gpt-4o-mini"];
const EMBEDDING = NANO_PRICES["text-embedding-3-small"];

function expectNothingReserved(info: Record<string, any>): void {
  expect(info.usage.in_flight).toBe(0);
  expect(info.usage.reserved_tokens).toBe(0);
  expect(info.usage.reserved_spend).toBe(0);
}

describe.each(["/v1", ""])("charged exactly the upstream usage at %s", (prefix) => {
  it(`POST ${prefix}/completions: prompt_tokens + completion_tokens at the gpt-4o-mini price`, async () => {
    const key = await createKey();
    const prompt = ["Complete this sentence about quotas", "and this one too"];
    const response = await call(`${prefix}/completions`, {
      token: key.key,
      headers: { "x-mock-completion-tokens": "5" },
      body: { model: "gpt-4o-mini", prompt, max_tokens: 5 },
    });
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body.object).toBe("text_completion");
    const promptTokens = await mockPromptTokens({ model: "gpt-4o-mini", prompt }, "/completions");
    expect(body.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: 5, total_tokens: promptTokens + 5 });
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(promptTokens + 5);
    expect(info.spend).toBe(usdFor(MINI, promptTokens, 5));
    expect(Number(response.headers.get("x-litellm-response-cost"))).toBe(info.spend);
  });

  it(`POST ${prefix}/embeddings with an array input: prompt_tokens only, at the text-embedding-3-small price`, async () => {
    const key = await createKey();
    const input = ["the first text to embed", "a second, somewhat longer text to embed", "third"];
    const response = await call(`${prefix}/embeddings`, { token: key.key, body: { model: "text-embedding-3-small", input } });
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body.data).toHaveLength(3);
    const promptTokens = await mockPromptTokens({ model: "text-embedding-3-small", input }, "/embeddings");
    expect(promptTokens).toBeGreaterThan(10);
    expect(body.usage).toEqual({ prompt_tokens: promptTokens, total_tokens: promptTokens });
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(promptTokens);
    expect(info.spend).toBe(usdFor(EMBEDDING, promptTokens, 0));
  });

  it(`POST ${prefix}/responses: input_tokens + output_tokens at the gpt-4o-mini price`, async () => {
    const key = await createKey();
    const input = [{ role: "user", content: "Answer through the Responses API." }];
    const response = await call(`${prefix}/responses`, {
      token: key.key,
      headers: { "x-mock-completion-tokens": "9" },
      body: { model: "gpt-4o-mini", input, instructions: "Be brief.", max_output_tokens: 9 },
    });
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body.object).toBe("response");
    const inputTokens = await mockPromptTokens({ model: "gpt-4o-mini", input, instructions: "Be brief." }, "/responses");
    expect(body.usage.input_tokens).toBe(inputTokens);
    expect(body.usage.output_tokens).toBe(9);
    const info = await settled(key.key);
    expectNothingReserved(info);
    expect(info.usage.tokens).toBe(inputTokens + 9);
    expect(info.spend).toBe(usdFor(MINI, inputTokens, 9));
  });
});

describe("unknown request fields", () => {
  const EXTRA = {
    some_future_param: { nested: [1, "two", null, { deep: true }], flag: false },
    user: "end-user-42",
    metadata: { trace: "abc" },
    temperature: 0.25,
  };

  it.each([
    ["/v1/completions", { model: "gpt-4o-mini", prompt: "hi", max_tokens: 2, best_of: 1, suffix: "!", ...EXTRA }],
    ["/completions", { model: "gpt-4o-mini", prompt: [1, 2, 3], max_tokens: 2, ...EXTRA }],
    ["/v1/embeddings", { model: "text-embedding-3-small", input: ["a", "b"], encoding_format: "float", dimensions: 8, ...EXTRA }],
    ["/embeddings", { model: "text-embedding-3-small", input: "one", ...EXTRA }],
    ["/v1/responses", { model: "gpt-4o-mini", input: "hi", max_output_tokens: 2, reasoning: { effort: "low" }, text: { format: { type: "text" } }, store: false, ...EXTRA }],
    ["/responses", { model: "gpt-4o-mini", input: [{ role: "user", content: [{ type: "input_text", text: "hi" }] }], ...EXTRA }],
  ])("%s forwards the body untouched, to the same path", async (path, body) => {
    const key = await createKey();
    const seen = fakeUpstream();
    const response = await post(UPSTREAM, path, key.key, body);
    expect(response.status).toBe(200);
    await response.text();
    expect(seen).toHaveLength(1);
    expect(seen[0]!.request.method).toBe("POST");
    expect(seen[0]!.request.url).toBe(`http://upstream.test${path}`);
    expect(seen[0]!.body).toEqual(body);
    await settled(key.key);
  });
});

describe("GET /v1/models and /models", () => {
  const ids = async (response: Response) => ((await json(response)).data as Array<{ id: string }>).map((model) => model.id);

  it.each(["/v1/models", "/models"])("%s lists exactly the allowed models the upstream offers", async (path) => {
    const key = await createKey({ models: ["gpt-4o", "text-embedding-3-small"] });
    const response = await call(path, { token: key.key });
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body.object).toBe("list");
    expect((body.data as Array<{ id: string }>).map((model) => model.id).sort()).toEqual(["gpt-4o", "text-embedding-3-small"]);
  });

  it.each(["/v1/models", "/models"])("%s lists every model for a key without an allow-list", async (path) => {
    const key = await createKey();
    const response = await call(path, { token: key.key });
    expect(response.status).toBe(200);
    expect((await ids(response)).sort()).toEqual([...MOCK_MODEL_IDS].sort());
  });

  it("applies prefix wildcards of the allow-list and omits allowed models the upstream does not offer", async () => {
    const key = await createKey({ models: ["gpt-4.1*", "not-offered-model"] });
    const response = await call("/v1/models", { token: key.key });
    expect((await ids(response)).sort()).toEqual(["gpt-4.1", "gpt-4.1-mini"]);
  });

  it("asks a configured upstream for its list and filters it", async () => {
    const key = await createKey({ models: ["gpt-4o"] });
    const seen = fakeUpstream();
    const response = await callWith(UPSTREAM, "/models", { headers: { authorization: `Bearer ${key.key}` } });
    expect(response.status).toBe(200);
    expect(await ids(response)).toEqual(["gpt-4o"]);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.request.method).toBe("GET");
    expect(seen[0]!.request.url).toBe("http://upstream.test/v1/models");
  });

  it.each(["/v1/models", "/models"])("%s refuses a blocked key with 403 key_blocked", async (path) => {
    const key = await createKey({ blocked: true });
    const response = await call(path, { token: key.key });
    expect(response.status).toBe(403);
    expect((await json(response)).error.code).toBe("key_blocked");
  });

  it("refuses an unknown key with 401", async () => {
    const response = await call("/v1/models", { token: "sk-never-issued-bbbbbbbbbbbbbbbbbbbbbb" });
    expect(response.status).toBe(401);
  });
});
