// The official @anthropic-ai/sdk client against the gateway's /v1/messages, with LiteLLM's real proxy as the
// upstream (config.yaml's claude-sonnet-4-20250514: LiteLLM's messages->chat bridge over its mocked gpt-4o-mini).
import assert from "node:assert/strict";
import { test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";

const EDGE = process.env.EDGE_URL;
const MASTER = process.env.EDGE_MASTER_KEY;
assert.ok(EDGE && MASTER, "run through `npm run e2e:litellm`");

const MODEL = "claude-sonnet-4-20250514";
const TEXT = "Hello from LiteLLM's mock.";
const MESSAGES = [{ role: "user", content: "Say hello." }];
/** Every test bounds itself; the SDK's own timeout is per attempt. */
const LIMIT = { timeout: 60_000 };

async function admin(path, body) {
  const response = await fetch(EDGE + path, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
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

const spendLogs = (key) => admin(`/spend/logs?api_key=${encodeURIComponent(key)}`);
const nanos = (usd) => Math.round(usd * 1e9);

/**
 * An SDK client whose every HTTP attempt (the SDK's retries included) is recorded: when it started, the retry
 * count the SDK announced, and the answer's status and retry hints.
 */
function client(key, options = {}, Client = Anthropic) {
  const attempts = [];
  const sdk = new Client({
    apiKey: key,
    baseURL: EDGE,
    timeout: 20_000,
    fetch: async (url, init) => {
      const started = Date.now();
      const sent = new Headers(init?.headers);
      const response = await fetch(url, init);
      attempts.push({
        started,
        path: new URL(url).pathname,
        retryCount: sent.get("x-stainless-retry-count"),
        credentials: { xApiKey: sent.get("x-api-key"), authorization: sent.get("authorization") },
        status: response.status,
        retryAfterMs: Number(response.headers.get("retry-after-ms")),
        retryAfter: response.headers.get("retry-after"),
        shouldRetry: response.headers.get("x-should-retry"),
      });
      return response;
    },
    ...options,
  });
  return { sdk, attempts };
}

test("messages.create through the gateway returns LiteLLM's answer, its usage, and charges LiteLLM's cost", LIMIT, async () => {
  const { key } = await admin("/key/generate", { key_alias: "anthropic-plain" });
  const { sdk, attempts } = client(key);
  const { data, response } = await sdk.messages.create({ model: MODEL, max_tokens: 30, messages: MESSAGES }).withResponse();
  assert.equal(data.type, "message");
  assert.equal(data.role, "assistant");
  assert.equal(data.model, MODEL);
  assert.deepEqual(data.content, [{ type: "text", text: TEXT }]);
  assert.equal(data.stop_reason, "end_turn");
  assert.ok(data.usage.input_tokens > 0 && data.usage.output_tokens > 0, JSON.stringify(data.usage));
  assert.equal(attempts.length, 1);
  assert.equal(attempts[0].path, "/v1/messages");
  assert.deepEqual(attempts[0].credentials, { xApiKey: null, authorization: `Bearer ${key}` }, "the SDK sends apiKey as a bearer token");
  const cost = Number(response.headers.get("x-litellm-response-cost"));
  assert.ok(cost > 0, "LiteLLM's per-call cost reaches the client");
  const info = await settledInfo(key);
  assert.equal(nanos(info.spend), nanos(cost));
});

test("messages.stream through the gateway delivers Anthropic's events and a final message, and is charged", LIMIT, async () => {
  const { key } = await admin("/key/generate", { key_alias: "anthropic-stream" });
  const { sdk } = client(key);
  const stream = sdk.messages.stream({ model: MODEL, max_tokens: 30, messages: MESSAGES });
  const events = [];
  const deltas = [];
  stream.on("streamEvent", (event) => events.push(event.type));
  stream.on("text", (delta) => deltas.push(delta));
  const message = await stream.finalMessage();
  assert.equal(stream.response.headers.get("content-type")?.split(";")[0], "text/event-stream");
  assert.equal(events[0], "message_start");
  assert.equal(events.at(-1), "message_stop");
  for (const type of ["content_block_start", "content_block_delta", "content_block_stop", "message_delta"]) assert.ok(events.includes(type), `${type} in ${events}`);
  assert.ok(deltas.length > 1, `the text arrives in pieces: ${JSON.stringify(deltas)}`);
  assert.equal(deltas.join(""), TEXT);
  assert.deepEqual(message.content, [{ type: "text", text: TEXT }]);
  assert.equal(message.stop_reason, "end_turn");
  assert.ok(message.usage.output_tokens > 0, JSON.stringify(message.usage));
  const info = await settledInfo(key);
  assert.ok(info.spend > 0, "a stream without x-litellm-response-cost is priced by the gateway");
  const [line] = await spendLogs(key);
  assert.equal(line.request_id, stream.response.headers.get("x-litellm-call-id"));
  assert.equal(line.outcome, "settled");
  assert.equal(line.completion_tokens, message.usage.output_tokens);
  assert.notEqual(line.price_source, "upstream");
});

test("a key's spend is the sum of its /spend/logs lines, each plain call's line being LiteLLM's x-litellm-response-cost", LIMIT, async () => {
  const { key } = await admin("/key/generate", { key_alias: "anthropic-spend" });
  const { sdk } = client(key);
  const plain = new Map(); // x-litellm-call-id -> the cost the client was told
  const streamed = [];
  for (let index = 0; index < 3; index++) {
    const response = await sdk.messages.create({ model: MODEL, max_tokens: 20 + index, messages: MESSAGES }).asResponse();
    assert.equal(response.status, 200);
    assert.equal((await response.json()).content[0].text, TEXT);
    plain.set(response.headers.get("x-litellm-call-id"), Number(response.headers.get("x-litellm-response-cost")));
    const stream = sdk.messages.stream({ model: MODEL, max_tokens: 20 + index, messages: MESSAGES });
    assert.equal(await stream.finalText(), TEXT);
    assert.equal(stream.response.headers.get("x-litellm-response-cost"), null, "LiteLLM reports no cost for a stream");
    streamed.push(stream.response.headers.get("x-litellm-call-id"));
  }
  const info = await settledInfo(key);
  const lines = await spendLogs(key);
  assert.equal(lines.length, 6, JSON.stringify(lines));
  assert.ok(info.spend > 0);
  assert.equal(nanos(info.spend), lines.reduce((sum, line) => sum + nanos(line.spend), 0));
  for (const [id, cost] of plain) {
    const line = lines.find((candidate) => candidate.request_id === id);
    assert.ok(line, `a line for call ${id}`);
    assert.ok(cost > 0);
    assert.equal(nanos(line.spend), nanos(cost), `call ${id}: charged LiteLLM's cost`);
    assert.equal(line.price_source, "upstream");
    assert.ok(line.prompt_tokens > 0 && line.completion_tokens > 0);
  }
  for (const id of streamed) {
    const line = lines.find((candidate) => candidate.request_id === id);
    assert.ok(line, `a line for streamed call ${id}`);
    assert.ok(line.spend > 0);
    assert.match(line.price_source ?? "", /.+/);
    assert.notEqual(line.price_source, "upstream");
    assert.ok(line.prompt_tokens > 0 && line.completion_tokens > 0);
  }
});

test("an RPM limit is hit, and the SDK's own retry gets through after the retry-after-ms the gateway sent", LIMIT, async () => {
  const { key } = await admin("/key/generate", { key_alias: "anthropic-rpm", rpm_limit: 1 });
  const { sdk, attempts } = client(key, { maxRetries: 2 });
  const request = { model: MODEL, max_tokens: 30, messages: MESSAGES };
  const { response: first } = await sdk.messages.create(request).withResponse();
  assert.equal(first.headers.get("anthropic-ratelimit-requests-limit"), "1");
  assert.equal(first.headers.get("anthropic-ratelimit-requests-remaining"), "0");
  const began = attempts.length;
  const second = await sdk.messages.create(request);
  assert.equal(second.content[0].text, TEXT);
  const tries = attempts.slice(began);
  assert.equal(tries.length, 2, `one refusal then one successful retry: ${JSON.stringify(tries)}`);
  const [refused, retried] = tries;
  assert.equal(refused.status, 429);
  assert.equal(refused.shouldRetry, "true");
  assert.equal(refused.retryCount, "0");
  assert.equal(retried.status, 200);
  assert.equal(retried.retryCount, "1");
  assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 3_200, `retry-after-ms ${refused.retryAfterMs} within the 3 s window`);
  assert.equal(refused.retryAfter, String(Math.ceil(refused.retryAfterMs / 1000)));
  const waited = retried.started - refused.started;
  assert.ok(waited >= refused.retryAfterMs - 20, `the SDK waited ${waited} ms for retry-after-ms ${refused.retryAfterMs}`);
  assert.ok(waited < refused.retryAfterMs + 1_500, `and not much longer: ${waited} ms`);
});

test("an RPM refusal reaches the SDK as Anthropic's rate_limit_error with the anthropic-ratelimit-* headers", LIMIT, async () => {
  const { key } = await admin("/key/generate", { key_alias: "anthropic-rpm-refusal", rpm_limit: 1 });
  const { sdk, attempts } = client(key, { maxRetries: 0 });
  await sdk.messages.create({ model: MODEL, max_tokens: 30, messages: MESSAGES });
  const error = await sdk.messages.create({ model: MODEL, max_tokens: 30, messages: MESSAGES }).then(
    () => assert.fail("the second call within the window is refused"),
    (caught) => caught,
  );
  assert.ok(error instanceof Anthropic.RateLimitError, `a RateLimitError, got ${error}`);
  assert.equal(error.status, 429);
  assert.equal(error.type, "rate_limit_error");
  assert.equal(error.error.type, "error");
  assert.equal(error.error.error.code, "rpm_limit_exceeded");
  assert.equal(error.headers.get("anthropic-ratelimit-requests-limit"), "1");
  assert.equal(error.headers.get("anthropic-ratelimit-requests-remaining"), "0");
  assert.ok(error.headers.get("anthropic-ratelimit-requests-reset"), "the reset instant is given");
  assert.equal(attempts.length, 2);
  const info = await settledInfo(key);
  assert.equal((await spendLogs(key)).length, 1, "the refusal is not charged");
  assert.ok(info.spend > 0);
});

test("a budget stop is a RateLimitError the SDK does not retry (x-should-retry: false), and costs nothing", LIMIT, async () => {
  // A budget no call can fit in: refused before anything is spent, the request's reserved cost in error.limit.
  const { key } = await admin("/key/generate", { key_alias: "anthropic-budget", max_budget: 1e-9 });
  const { sdk, attempts } = client(key, { maxRetries: 2 });
  const request = { model: MODEL, max_tokens: 30, messages: MESSAGES };
  const refuse = async () => {
    const before = attempts.length;
    const error = await sdk.messages.create(request).then(
      () => assert.fail("the budget refuses the call"),
      (caught) => caught,
    );
    assert.ok(error instanceof Anthropic.RateLimitError, `a RateLimitError, got ${error}`);
    assert.equal(error.status, 429);
    assert.equal(error.headers.get("x-should-retry"), "false");
    assert.equal(attempts.length - before, 1, `the SDK did not retry: ${JSON.stringify(attempts.slice(before))}`);
    return error;
  };
  const never = await refuse();
  assert.equal(never.error.error.code, "request_exceeds_limit");
  assert.equal(never.error.error.limit.name, "max_budget");
  const requested = never.error.error.limit.requested;
  assert.ok(requested > 1e-9, `the call reserves ${requested} USD`);
  assert.equal((await settledInfo(key)).spend, 0);

  // A budget the first call exhausts: the next call fits the budget alone but not next to what was spent, and
  // with no budget_duration nothing frees up, so the SDK is told not to retry.
  await admin("/key/update", { key, max_budget: 1 });
  await sdk.messages.create(request);
  const spent = (await settledInfo(key)).spend;
  assert.ok(spent > 0);
  await admin("/key/update", { key, max_budget: 1e-9 });
  const reserves = (await refuse()).error.error.limit.requested; // the call's reservation now, learned usage included
  await admin("/key/update", { key, max_budget: reserves + spent / 2 });
  const stop = await refuse();
  assert.equal(stop.error.error.code, "budget_exceeded");
  assert.equal(stop.error.error.limit.name, "max_budget");
  assert.equal(stop.error.error.limit.resets_in_ms, null);
  assert.equal(stop.headers.get("retry-after"), null);
  assert.equal(stop.headers.get("retry-after-ms"), null);
  const info = await settledInfo(key);
  assert.equal(nanos(info.spend), nanos(spent), "refusals cost nothing");
  assert.equal((await spendLogs(key)).filter((line) => line.outcome === "settled").length, 1);
});

/**
 * A client that authenticates only by the x-api-key header it is given: no apiKey or authToken, and (the SDK's
 * documented hook for clients with their own auth scheme) no lookup of this machine's Anthropic credentials.
 */
class XApiKeyAnthropic extends Anthropic {
  _shouldResolveDefaultCredentials() {
    return false;
  }
}
const xApiKeyClient = (key, options = {}) =>
  client(null, { authToken: null, defaultHeaders: { "x-api-key": key, Authorization: null }, ...options }, XApiKeyAnthropic);

test("x-api-key authenticates as Anthropic's clients send it, and messages.countTokens costs nothing", LIMIT, async () => {
  const { key } = await admin("/key/generate", { key_alias: "anthropic-x-api-key" });
  // The key only in x-api-key, as Anthropic's own API expects it.
  const { sdk, attempts } = xApiKeyClient(key);
  const message = await sdk.messages.create({ model: MODEL, max_tokens: 30, messages: MESSAGES });
  assert.equal(message.content[0].text, TEXT);
  assert.deepEqual(attempts[0].credentials, { xApiKey: key, authorization: null });
  const info = await settledInfo(key);
  assert.ok(info.spend > 0);

  const counted = await sdk.messages.countTokens({ model: MODEL, messages: MESSAGES });
  assert.ok(Number.isInteger(counted.input_tokens) && counted.input_tokens > 0, JSON.stringify(counted));
  assert.equal(attempts.at(-1).path, "/v1/messages/count_tokens");
  const after = await settledInfo(key);
  assert.equal(nanos(after.spend), nanos(info.spend), "counting tokens costs nothing");
  assert.equal((await spendLogs(key)).length, 1, "and leaves no ledger line");

  // A wrong x-api-key is Anthropic's authentication_error.
  const { sdk: stranger } = xApiKeyClient("sk-not-a-key", { maxRetries: 0 });
  const error = await stranger.messages.create({ model: MODEL, max_tokens: 30, messages: MESSAGES }).then(
    () => assert.fail("an unknown key is refused"),
    (caught) => caught,
  );
  assert.ok(error instanceof Anthropic.AuthenticationError, `an AuthenticationError, got ${error}`);
  assert.equal(error.error.error.type, "authentication_error");
});
