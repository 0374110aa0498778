import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { app } from "../../src/app";
import { createKey, keyInfo, settled } from "../helpers/gateway";

async function run(mode: string) {
  const key = await createKey({});
  const controller = new AbortController();
  const request = new Request("http://gateway.test/v1/chat/completions", {
    method: "POST",
    signal: controller.signal,
    headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json", "x-mock-chunk-delay-ms": "50" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 50, stream: true }),
  });
  const response = await app.fetch(request, env, createExecutionContext());
  const reader = response.body!.getReader();
  for (let i = 0; i < 3; i++) await reader.read();
  if (mode === "cancel-first") { await reader.cancel(); controller.abort(); }
  else if (mode === "abort-only") controller.abort();
  else if (mode === "abort-read") { controller.abort(); try { while (!(await reader.read()).done); } catch (e) { console.log("read err", String(e)); } }
  const info = await settled(key.key);
  console.log(mode, info.usage.tokens, info.usage.in_flight);
}
(globalThis as any).addEventListener?.("unhandledrejection", (e: any) => console.log("UNHANDLED", String(e.reason), e.reason?.stack));
it("cancel-first", async () => { await run("cancel-first"); });
it("abort-only", async () => { await run("abort-only"); });
it("abort-read", async () => { await run("abort-read"); });
