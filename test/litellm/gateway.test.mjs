// The official openai client against the gateway, with LiteLLM's real proxy as the upstream.
import assert from "node:assert/strict";
import { test } from "node:test";
import OpenAI from "openai";

const EDGE = process.env.EDGE_URL;
const MASTER = process.env.EDGE_MASTER_KEY;
assert.ok(EDGE && MASTER, "run through `npm run e2e:litellm`");

async function admin(path, body) {
  const response = await fetch(EDGE + path, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return response.json();
}

async function settledInfo(key) {
  for (let attempt = 0; attempt < 100; attempt++) {
    const { info } = await admin(`/key/info?key=${encodeURIComponent(key)}`);
    // Calls admitted under a front door's lease reach the key when the lease goes back (within LEASE_MS).
    if (info.usage.in_flight === 0 && info.usage.leased.leases === 0) return info;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("calls still in flight");
}

/** An SDK client whose every HTTP attempt (retries included) is recorded. */
function client(key, options = {}) {
  const attempts = [];
  const sdk = new OpenAI({
    apiKey: key,
    baseURL: `${EDGE}/v1`,
    fetch: async (url, init) => {
      const started = Date.now();
      const response = await fetch(url, init);
      attempts.push({ started, status: response.status, retryAfterMs: Number(response.headers.get("retry-after-ms")) });
      return response;
    },
    ...options,
  });
  return { sdk, attempts };
}

const MESSAGES = [{ role: "user", content: "Say hello." }];

test("plain chat through the gateway returns LiteLLM's answer and charges LiteLLM's cost", async () => {
  const { key } = await admin("/key/generate", { key_alias: "litellm-plain" });
  const { sdk } = client(key);
  const { data, response } = await sdk.chat.completions.create({ model: "gpt-4o-mini", messages: MESSAGES, max_tokens: 30 }).withResponse();
  assert.equal(data.choices[0].message.content, "Hello from LiteLLM's mock.");
  assert.ok(data.usage.total_tokens > 0);
  const cost = Number(response.headers.get("x-litellm-response-cost"));
  assert.ok(cost > 0, "LiteLLM's per-call cost reaches the client");
  const info = await settledInfo(key);
  assert.equal(Math.round(info.spend * 1e9), Math.round(cost * 1e9));
  assert.equal(info.usage.tokens, data.usage.total_tokens);
});

test("streamed chat arrives in chunks, without the injected usage chunk, and is charged", async () => {
  const { key } = await admin("/key/generate", { key_alias: "litellm-stream" });
  const { sdk } = client(key);
  const stream = await sdk.chat.completions.create({ model: "gpt-4o-mini", messages: MESSAGES, max_tokens: 30, stream: true });
  let text = "";
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.usage ?? null, null, "the client did not ask for usage, so it sees none");
    text += chunk.choices[0]?.delta?.content ?? "";
  }
  assert.ok(chunks > 1);
  assert.equal(text, "Hello from LiteLLM's mock.");
  const info = await settledInfo(key);
  assert.ok(info.spend > 0);
  assert.ok(info.usage.tokens > 0);
});

test("embeddings through the gateway", async () => {
  const { key } = await admin("/key/generate", { key_alias: "litellm-embed" });
  const { sdk } = client(key);
  const result = await sdk.embeddings.create({ model: "text-embedding-3-small", input: "hello", encoding_format: "float" });
  assert.deepEqual(result.data[0].embedding, [0.1, 0.2, 0.3]);
  const info = await settledInfo(key);
  assert.equal(info.usage.requests, 1);
  assert.equal(info.usage.in_flight, 0);
});

test("a key's spend equals the sum of LiteLLM's x-litellm-response-cost", async () => {
  const { key } = await admin("/key/generate", { key_alias: "litellm-spend" });
  const { sdk } = client(key);
  let costs = 0;
  for (let index = 0; index < 6; index++) {
    const { response } = await sdk.chat.completions.create({ model: "gpt-4o-mini", messages: MESSAGES, max_tokens: 10 + index }).withResponse();
    costs += Math.round(Number(response.headers.get("x-litellm-response-cost")) * 1e9);
  }
  const info = await settledInfo(key);
  assert.equal(Math.round(info.spend * 1e9), costs);
});

test("a TPM limit is hit, and the SDK's own single retry gets through after exactly the retry-after-ms sent", async () => {
  const { key } = await admin("/key/generate", { key_alias: "litellm-tpm", tpm_limit: 1_000 });
  const { sdk, attempts } = client(key, { maxRetries: 2 });
  const request = { model: "gpt-4o-mini", messages: MESSAGES, max_tokens: 30 };
  const { response: first } = await sdk.chat.completions.create(request).withResponse();
  const estimate = 1_000 - Number(first.headers.get("x-ratelimit-remaining-tokens"));
  const used = (await settledInfo(key)).usage.tokens;
  // Room for one call's reservation but not for a second next to the first call's real usage.
  await admin("/key/update", { key, tpm_limit: estimate + used - 1 });
  const second = await sdk.chat.completions.create(request);
  assert.equal(second.choices[0].message.content, "Hello from LiteLLM's mock.");
  assert.equal(attempts.length, 3, `one refusal then one successful retry: ${JSON.stringify(attempts)}`);
  const [, refused, retried] = attempts;
  assert.equal(refused.status, 429);
  assert.equal(retried.status, 200);
  assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 3_200, `retry-after-ms ${refused.retryAfterMs} within the 3 s window`);
  const waited = retried.started - refused.started;
  assert.ok(waited >= refused.retryAfterMs, `the SDK waited ${waited} ms for retry-after-ms ${refused.retryAfterMs}`);
  assert.ok(waited < refused.retryAfterMs + 1_000, `and not much longer: ${waited} ms`);
});

test("a budget stops the key with budget_exceeded and tells the SDK not to retry", async () => {
  const { key } = await admin("/key/generate", { key_alias: "litellm-budget", max_budget: 0.0001 });
  const { sdk, attempts } = client(key, { maxRetries: 2 });
  let admitted = 0;
  let refusal;
  for (let index = 0; index < 50 && !refusal; index++) {
    try {
      await sdk.chat.completions.create({ model: "gpt-4o-mini", messages: MESSAGES, max_tokens: 30 });
      admitted++;
    } catch (error) {
      refusal = error;
    }
    await settledInfo(key);
  }
  assert.ok(admitted > 0, "calls are admitted until the budget runs out");
  assert.ok(refusal instanceof OpenAI.RateLimitError, `a 429, got ${refusal}`);
  assert.equal(refusal.code, "budget_exceeded");
  assert.equal(refusal.type, "budget_exceeded");
  assert.equal(attempts.at(-1).status, 429);
  assert.equal(attempts.at(-2).status, 200, "x-should-retry: false: the SDK did not retry the refusal");
  const info = await settledInfo(key);
  assert.ok(info.spend <= 0.0001);
});
