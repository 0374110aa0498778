import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import readme from "../README.md?raw";
import { app } from "../src/app";

/** The README's walkthrough, run verbatim against the app configured exactly as `npm run dev` configures it. */
const devEnv = { ...env, MASTER_KEY: undefined, EDGEQUOTA_LOCAL_DEV: "true" };

function walkthrough(): string[] {
  const block = /<!-- walkthrough:start -->\s*```bash\n([\s\S]*?)```\s*<!-- walkthrough:end -->/.exec(readme);
  if (!block) throw new Error("README has no walkthrough block");
  return block[1]!
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

/** Splits a shell command line into words: single quotes literal, double quotes expand $VARS. */
function words(line: string, vars: Record<string, string>): string[] {
  const out: string[] = [];
  let current = "";
  let started = false;
  for (let index = 0; index < line.length; index++) {
    const char = line[index]!;
    if (char === "'") {
      const end = line.indexOf("'", index + 1);
      current += line.slice(index + 1, end);
      index = end;
      started = true;
    } else if (char === '"') {
      const end = line.indexOf('"', index + 1);
      current += line.slice(index + 1, end).replace(/\$(\w+)/g, (_, name: string) => vars[name] ?? "");
      index = end;
      started = true;
    } else if (char === " ") {
      if (started) out.push(current);
      current = "";
      started = false;
    } else {
      current += char;
      started = true;
    }
  }
  if (started) out.push(current);
  return out;
}

async function curl(args: string[]): Promise<Response> {
  expect(args[0]).toBe("curl");
  let url = "";
  let method: string | undefined;
  let body: string | undefined;
  const headers = new Headers();
  for (let index = 1; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === "-H") {
      const [name, ...value] = args[++index]!.split(":");
      headers.set(name!.trim(), value.join(":").trim());
    } else if (arg === "-d") body = args[++index];
    else if (arg === "-X") method = args[++index];
    else if (arg.startsWith("http")) url = arg;
    else expect(["-s", "-si", "-i"]).toContain(arg);
  }
  const request = new Request(url, { method: method ?? (body !== undefined ? "POST" : "GET"), headers, body });
  return app.fetch(request, devEnv, createExecutionContext());
}

describe("the README walkthrough", () => {
  it("creates a key, gets rate-limit headers on chat, and reads consistent counters from /key/info", async () => {
    const vars: Record<string, string> = {};
    const responses: Response[] = [];
    for (const line of walkthrough()) {
      const assignment = /^(\w+)=\$\((curl .*?)\s*\|\s*node -pe '.*\.(\w+)'\)$/.exec(line);
      if (assignment) {
        const response = await curl(words(assignment[2]!, vars));
        expect(response.status).toBe(200);
        vars[assignment[1]!] = String(((await response.json()) as Record<string, unknown>)[assignment[3]!]);
        continue;
      }
      responses.push(await curl(words(line, vars)));
    }
    expect(vars.KEY).toMatch(/^sk-/);
    const [chat, info] = responses;
    expect(chat!.status).toBe(200);
    for (const header of ["limit-requests", "remaining-requests", "reset-requests", "limit-tokens", "remaining-tokens", "reset-tokens"]) {
      expect(chat!.headers.get(`x-ratelimit-${header}`)).not.toBeNull();
    }
    expect(chat!.headers.get("x-ratelimit-limit-tokens")).toBe("2000");
    expect(chat!.headers.get("x-ratelimit-remaining-requests")).toBe("4");
    expect(chat!.headers.get("x-litellm-key-max-budget")).toBe("0.01");
    const completion = (await chat!.json()) as { usage: { completion_tokens: number; total_tokens: number } };
    // The numbers the README prints after the walkthrough: the mock's natural answer to "Hello!" is longer than
    // 50 tokens, so max_tokens cuts it (8 prompt + 50 completion tokens).
    expect(completion.usage).toMatchObject({ completion_tokens: 50, total_tokens: 58 });
    expect(chat!.headers.get("x-litellm-response-cost")).toBe("0.0000312");
    expect(info!.status).toBe(200);
    const body = (await info!.json()) as { info: { key_alias: string; usage: { requests: number; tokens: number; in_flight: number } } };
    expect(body.info.key_alias).toBe("demo-app");
    expect(body.info.usage.requests).toBe(1);
    // Settlement may still be in flight; then the reservation (an upper bound) is what the window holds.
    if (body.info.usage.in_flight === 0) expect(body.info.usage.tokens).toBe(completion.usage.total_tokens);
    else expect(body.info.usage.tokens).toBeGreaterThanOrEqual(completion.usage.total_tokens);
  });
});
