import { describe, expect, it } from "vitest";
import { countPromptTokens } from "../../../src/mock-upstream";
import { call, chat, createKey, json, keyInfo, settled, shiftClock } from "../../helpers/gateway";

const MESSAGES = [{ role: "user", content: "What is the capital of France?" }];

describe("POST /v1/chat/completions", () => {
  it("forwards to the mock upstream and returns its answer with exact usage", async () => {
    const key = await createKey();
    const response = await chat(key.key, { messages: MESSAGES, max_tokens: 7 });
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body.object).toBe("chat.completion");
    expect(body.usage.completion_tokens).toBe(7);
    expect(body.usage.prompt_tokens).toBe(countPromptTokens({ messages: MESSAGES }, "/v1/chat/completions"));
    expect((await settled(key.key)).usage.tokens).toBe(body.usage.total_tokens);
  });

  it("is also served without the /v1 prefix, as LiteLLM serves it", async () => {
    const key = await createKey();
    // No cap: the mock would answer at the prompt's natural length; the header pins it.
    const response = await call("/chat/completions", {
      token: key.key,
      headers: { "x-mock-completion-tokens": "16" },
      body: { model: "gpt-4o", messages: MESSAGES },
    });
    expect(response.status).toBe(200);
    expect((await json(response)).usage.completion_tokens).toBe(16);
  });

  it("refuses a missing key with 401", async () => {
    const response = await call("/v1/chat/completions", { token: null, body: { model: "gpt-4o", messages: MESSAGES } });
    expect(response.status).toBe(401);
    expect((await json(response)).error.type).toBe("authentication_error");
  });

  it("refuses an unknown key with 401 invalid_api_key", async () => {
    const response = await chat("sk-never-issued-aaaaaaaaaaaaaaaaaaaaaa");
    expect(response.status).toBe(401);
    expect((await json(response)).error.code).toBe("invalid_api_key");
  });

  it("refuses a model outside the key's allow-list with 403 and counts nothing", async () => {
    const key = await createKey({ models: ["gpt-4o"] });
    const response = await chat(key.key, { model: "gpt-4o-mini" });
    expect(response.status).toBe(403);
    expect((await json(response)).error.code).toBe("model_not_allowed");
    expect((await chat(key.key, { model: "gpt-4o" })).status).toBe(200);
    expect((await settled(key.key)).usage.requests).toBe(1);
  });

  it("refuses a blocked key with 403 key_blocked", async () => {
    const key = await createKey({ blocked: true });
    const response = await chat(key.key);
    expect(response.status).toBe(403);
    expect((await json(response)).error.code).toBe("key_blocked");
  });

  it("refuses an expired key with 401 key_expired", async () => {
    const key = await createKey({ duration: "30s" });
    expect((await chat(key.key)).status).toBe(200);
    await shiftClock(key.token, 31_000);
    const response = await chat(key.key);
    expect(response.status).toBe(401);
    expect((await json(response)).error.code).toBe("key_expired");
  });

  it.each([
    ["no model", { messages: MESSAGES }, "model"],
    ["no messages", { model: "gpt-4o" }, "messages"],
    ["messages not an array", { model: "gpt-4o", messages: "hi" }, "messages"],
    ["negative max_tokens", { model: "gpt-4o", messages: MESSAGES, max_tokens: -1 }, "max_tokens"],
    ["fractional max_tokens", { model: "gpt-4o", messages: MESSAGES, max_tokens: 1.5 }, "max_tokens"],
    ["stream not a boolean", { model: "gpt-4o", messages: MESSAGES, stream: "yes" }, "stream"],
  ])("rejects a body with %s as 400 naming the field, without counting it", async (_, body, param) => {
    const key = await createKey();
    const response = await call("/v1/chat/completions", { token: key.key, body });
    expect(response.status).toBe(400);
    const error = (await json(response)).error;
    expect(error.type).toBe("invalid_request_error");
    expect(error.param).toBe(param);
    expect(error.message).toContain(param);
    expect((await keyInfo(key.key)).usage.requests).toBe(0);
  });

  it("rejects malformed JSON with 400 and a body over the size limit with 413", async () => {
    const key = await createKey();
    const malformed = await call("/v1/chat/completions", { token: key.key, rawBody: '{"model": "gpt-4o", "messages": [', headers: { "content-type": "application/json" } });
    expect(malformed.status).toBe(400);
    expect((await json(malformed)).error.code).toBe("invalid_json");
    const huge = await chat(key.key, { messages: [{ role: "user", content: "x".repeat(5 * 1024 * 1024) }] });
    expect(huge.status).toBe(413);
    expect((await json(huge)).error.type).toBe("invalid_request_error");
    expect((await keyInfo(key.key)).usage.requests).toBe(0);
  });

  it("answers 405 for a wrong method and 404 for an unknown route, OpenAI-shaped", async () => {
    const key = await createKey();
    const wrongMethod = await call("/v1/chat/completions", { token: key.key, method: "GET" });
    expect(wrongMethod.status).toBe(405);
    expect((await json(wrongMethod)).error.code).toBe("method_not_allowed");
    const unknown = await call("/v1/nothing-here", { token: key.key });
    expect(unknown.status).toBe(404);
    expect((await json(unknown)).error.type).toBe("not_found_error");
  });
});
