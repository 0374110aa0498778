import { afterEach, describe, expect, it, vi } from "vitest";
import { upstreamUrl } from "../../src/upstream/forward";
import { createKey } from "../helpers/gateway";
import { callWith } from "../helpers/with-env";

afterEach(() => vi.restoreAllMocks());

describe("upstream URL", () => {
  it("keeps the path the request arrived on", () => {
    expect(upstreamUrl("http://litellm:4000", "/v1/chat/completions")).toBe("http://litellm:4000/v1/chat/completions");
    expect(upstreamUrl("http://litellm:4000", "/chat/completions")).toBe("http://litellm:4000/chat/completions");
  });

  it("does not double /v1 when the base already ends with it", () => {
    expect(upstreamUrl("https://api.openai.com/v1", "/v1/chat/completions")).toBe("https://api.openai.com/v1/chat/completions");
  });
});

describe("forwarding to a configured upstream", () => {
  it("sends UPSTREAM_API_KEY upstream, never the client's virtual key, and returns the upstream's answer", async () => {
    const key = await createKey();
    const seen: Request[] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input as RequestInfo, init);
      seen.push(request);
      return Response.json({
        id: "x", object: "chat.completion", model: "gpt-4o-mini",
        choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
      });
    });
    const response = await callWith(
      { UPSTREAM_BASE_URL: "http://upstream.test/v1", UPSTREAM_API_KEY: "sk-upstream-secret" },
      "/v1/chat/completions",
      {
        method: "POST",
        headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json", "x-custom": "kept" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 4, some_new_param: { a: 1 } }),
      },
    );
    expect(response.status).toBe(200);
    expect(((await response.json()) as { usage: { total_tokens: number } }).usage.total_tokens).toBe(6);
    expect(seen).toHaveLength(1);
    const upstream = seen[0]!;
    expect(upstream.url).toBe("http://upstream.test/v1/chat/completions");
    expect(upstream.headers.get("authorization")).toBe("Bearer sk-upstream-secret");
    expect(JSON.stringify([...upstream.headers])).not.toContain(key.key);
    expect(upstream.headers.get("x-custom")).toBe("kept");
    expect(upstream.headers.get("x-litellm-call-id")).toBe(response.headers.get("x-litellm-call-id"));
    const forwarded = (await upstream.json()) as Record<string, unknown>;
    expect(forwarded.some_new_param).toEqual({ a: 1 });
  });
});
