import { describe, expect, it } from "vitest";
import { call, chat, createKey, json, keyInfo, settled } from "../helpers/gateway";

describe("smoke", () => {
  it("creates a key and proxies a chat completion through the mock", async () => {
    const key = await createKey({ tpm_limit: 1000, rpm_limit: 10, max_budget: 1 });
    const response = await chat(key.key);
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body.usage.completion_tokens).toBe(10);
    expect(response.headers.get("x-ratelimit-limit-tokens")).toBe("1000");
    const info = await settled(key.key);
    expect(info.usage.tokens).toBe(body.usage.total_tokens);
    expect(info.spend).toBeGreaterThan(0);
    expect((await call("/health")).status).toBe(200);
    expect((await keyInfo(key.token)).token).toBe(key.token);
  });
});
