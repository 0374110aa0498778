import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createKey, ensureTeam, MASTER, settled, type NewKey } from "../helpers/gateway";
import { callWith } from "../helpers/with-env";

/**
 * Secrets (virtual keys, the master key, the upstream key) must never leave the gateway except where they are
 * issued (/key/generate and /key/regenerate answer the new secret once): not in logs, error bodies, headers,
 * or any management read.
 */

const UPSTREAM_KEY = `sk-upstream-${crypto.randomUUID().replace(/-/g, "")}`;
/** The embedded mock upstream, but with an upstream key configured, as in production. */
const VARS = { UPSTREAM_API_KEY: UPSTREAM_KEY };
const CHAT = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }], max_tokens: 5 };

interface Exchange {
  what: string;
  status: number;
  headers: string;
  body: string;
}

/** Calls the gateway and keeps everything the client could read. */
async function exchange(
  what: string,
  path: string,
  { token, body, headers = {}, vars = VARS }: { token: string | null; body?: unknown; headers?: Record<string, string>; vars?: Record<string, unknown> },
): Promise<Exchange> {
  const init: RequestInit = { method: body === undefined ? "GET" : "POST", headers: { ...headers } };
  const h = init.headers as Record<string, string>;
  if (token !== null) h.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    h["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await callWith(vars as Record<string, string>, path, init);
  return { what, status: response.status, headers: JSON.stringify([...response.headers]), body: await response.text() };
}

function format(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return `${value.name}: ${value.message}\n${value.stack ?? ""}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

let logs: string[] = [];

beforeEach(() => {
  logs = [];
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      logs.push(`${method}: ${args.map(format).join(" ")}`);
    });
  }
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Every place a secret could show up, with the secret's name for the failure message. */
function expectNoSecret(places: Array<{ what: string; text: string }>, secrets: Record<string, string>): void {
  for (const place of places) {
    for (const [name, secret] of Object.entries(secrets)) {
      expect(place.text.includes(secret), `${name} appears in ${place.what}: ${place.text.slice(0, 300)}`).toBe(false);
    }
  }
}

const unreachableKeys = {
  idFromName: env.KEYS.idFromName.bind(env.KEYS),
  get: () => new Proxy({}, { get: (_target, property) => (property === "then" ? undefined : async () => { throw new Error("network connection lost"); }) }),
};

describe("secrets never leak", () => {
  it("through logs, error bodies, headers, /key/info, /key/list, /team/info or /spend/logs across a whole session", async () => {
    const team = `secrets-${crypto.randomUUID()}`;
    await ensureTeam(team);
    const generated = await exchange("generate", "/key/generate", { token: MASTER, body: { team_id: team, models: ["gpt-4o-mini"], max_budget: 5 } });
    expect(generated.status).toBe(200);
    const key = JSON.parse(generated.body) as NewKey;
    const sibling = await createKey({ team_id: team });
    const wrongGuess = `sk-guess-${crypto.randomUUID()}`;

    const seen: Exchange[] = [];
    const run = async (what: string, path: string, options: Parameters<typeof exchange>[2], status: number) => {
      const result = await exchange(what, path, options);
      expect(result.status, `${what}: ${result.body.slice(0, 300)}`).toBe(status);
      seen.push(result);
    };

    await run("chat", "/v1/chat/completions", { token: key.key, body: CHAT }, 200);
    await run("streamed chat", "/v1/chat/completions", { token: key.key, body: { ...CHAT, stream: true } }, 200);
    await run("embeddings of another model", "/v1/embeddings", { token: key.key, body: { model: "text-embedding-3-small", input: "a" } }, 403);
    await run("wrong key", "/v1/chat/completions", { token: wrongGuess, body: CHAT }, 401);
    await run("master key on the proxy", "/v1/chat/completions", { token: MASTER, body: CHAT }, 401);
    await run("two credentials", "/v1/chat/completions", { token: key.key, headers: { "x-api-key": MASTER }, body: CHAT }, 400);
    await run("malformed json", "/v1/chat/completions", { token: key.key, body: "not an object" }, 400);
    await run("upstream 500", "/v1/chat/completions", { token: key.key, headers: { "x-mock-status": "500" }, body: CHAT }, 502);
    await run("upstream 429", "/v1/chat/completions", { token: key.key, headers: { "x-mock-status": "429" }, body: CHAT }, 429);
    await run("upstream 401", "/v1/chat/completions", { token: key.key, headers: { "x-mock-status": "401" }, body: CHAT }, 401);
    await run("limiter unreachable", "/v1/chat/completions", { token: key.key, body: CHAT, vars: { ...VARS, KEYS: unreachableKeys } }, 503);
    await run("wrong master key", "/key/list", { token: `${MASTER}x` }, 401);
    await run("virtual key on admin route", "/key/list", { token: key.key }, 403);
    await run("virtual key on other's info", `/key/info?key=${sibling.token}`, { token: key.key }, 403);
    await settled(key.key);

    // Regenerate: the answer carries the new secret (that is its job); everything after must carry none.
    const regenerated = await exchange("regenerate", "/key/regenerate", { token: MASTER, body: { key: key.key } });
    expect(regenerated.status).toBe(200);
    const renewed = JSON.parse(regenerated.body) as NewKey;
    expect(regenerated.body.includes(key.key), "regenerate echoes the old secret").toBe(false);
    await run("old secret after regenerate", "/v1/chat/completions", { token: key.key, body: CHAT }, 401);
    await run("chat with new secret", "/v1/chat/completions", { token: renewed.key, body: CHAT }, 200);
    await settled(renewed.key);

    await run("key/info by master", `/key/info?key=${renewed.token}`, { token: MASTER }, 200);
    await run("key/info by secret", `/key/info?key=${encodeURIComponent(renewed.key)}`, { token: MASTER }, 200);
    await run("key/info self", "/key/info", { token: renewed.key }, 200);
    await run("key/list tokens", "/key/list?size=100", { token: MASTER }, 200);
    await run("key/list full objects", `/key/list?size=100&team_id=${team}&return_full_object=true`, { token: MASTER }, 200);
    await run("team/info", `/team/info?team_id=${team}`, { token: MASTER }, 200);
    await run("team/list", "/team/list", { token: MASTER }, 200);
    await run("spend/logs by master", `/spend/logs?api_key=${encodeURIComponent(renewed.key)}`, { token: MASTER }, 200);
    await run("spend/logs self", "/spend/logs", { token: renewed.key }, 200);
    await run("health", "/health", { token: null }, 200);

    // The reads really describe this key (so the absence of secrets is not vacuous).
    const fullList = JSON.parse(seen.find((entry) => entry.what === "key/list full objects")!.body) as { keys: Array<Record<string, unknown>> };
    expect(fullList.keys.map((entry) => entry.token)).toContain(renewed.token);
    expect(fullList.keys.every((entry) => typeof entry === "object" && entry.key_name !== undefined)).toBe(true);
    const ledger = JSON.parse(seen.find((entry) => entry.what === "spend/logs self")!.body) as unknown[];
    expect(ledger.length).toBeGreaterThan(0);
    expect(logs.length, "the limiter failure at least was logged").toBeGreaterThan(0);

    const secrets = { "virtual key (old)": key.key, "virtual key (new)": renewed.key, "sibling key": sibling.key, "master key": MASTER, "upstream key": UPSTREAM_KEY, "guessed key": wrongGuess };
    expectNoSecret(
      seen.flatMap((entry) => [
        { what: `${entry.what} body`, text: entry.body },
        { what: `${entry.what} headers`, text: entry.headers },
      ]),
      secrets,
    );
    expectNoSecret([{ what: "console output", text: logs.join("\n") }], secrets);
    // generate and regenerate show their own new secret once, and no other secret.
    const { "virtual key (old)": _old, ...exceptOld } = secrets;
    const { "virtual key (new)": _new, ...exceptNew } = secrets;
    expectNoSecret([{ what: "generate", text: generated.body + generated.headers }], { ...exceptOld, "virtual key (new)": renewed.key });
    expectNoSecret([{ what: "regenerate", text: regenerated.body + regenerated.headers }], exceptNew);
  });

  it("not even when the upstream's error message echoes the credential it was sent", async () => {
    const key = await createKey();
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input as RequestInfo, init);
      const message = `Incorrect API key provided: ${request.headers.get("authorization")?.replace(/^Bearer /, "")}.`;
      return new Response(JSON.stringify({ error: { message, type: "invalid_request_error", code: "invalid_api_key" } }), {
        status: 401,
        headers: { "content-type": "application/json" },
      });
    });
    const result = await exchange("echoing upstream", "/v1/chat/completions", {
      token: key.key,
      body: CHAT,
      vars: { ...VARS, UPSTREAM_BASE_URL: "http://upstream.test/v1" },
    });
    expect(result.status).toBeGreaterThanOrEqual(400);
    expect(result.status).toBeLessThan(600);
    expectNoSecret([{ what: "error body", text: result.body }, { what: "headers", text: result.headers }, { what: "logs", text: logs.join("\n") }], {
      "upstream key": UPSTREAM_KEY,
      "virtual key": key.key,
    });
  });
});

describe("a virtual key sees only its own data", () => {
  it("its own /key/info and /spend/logs, and 403 for anyone else's or any listing", async () => {
    const team = `own-${crypto.randomUUID()}`;
    await ensureTeam(team);
    const [mine, theirs] = await Promise.all([createKey({ team_id: team }), createKey({ team_id: team })]);
    await exchange("their call", "/v1/chat/completions", { token: theirs.key, body: CHAT });
    await exchange("my call", "/v1/chat/completions", { token: mine.key, body: CHAT });
    await Promise.all([settled(mine.key), settled(theirs.key)]);

    const own = await exchange("own info", "/key/info", { token: mine.key });
    expect(own.status).toBe(200);
    expect(JSON.parse(own.body)).toMatchObject({ key: mine.token, info: { token: mine.token } });
    expect(own.body.includes(theirs.token)).toBe(false);

    const ownLog = await exchange("own log", "/spend/logs", { token: mine.key });
    expect(ownLog.status).toBe(200);
    const lines = JSON.parse(ownLog.body) as Array<{ api_key: string }>;
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((line) => line.api_key === mine.token)).toBe(true);

    for (const [path, code] of [
      [`/key/info?key=${theirs.token}`, "not_own_key"],
      [`/key/info?key=${encodeURIComponent(theirs.key)}`, "not_own_key"],
      [`/spend/logs?api_key=${theirs.token}`, "not_own_key"],
      [`/spend/logs?api_key=${encodeURIComponent(theirs.key)}`, "not_own_key"],
      ["/key/list?return_full_object=true", "admin_only"],
      [`/team/info?team_id=${team}`, "admin_only"],
      ["/team/list", "admin_only"],
    ] as const) {
      const refused = await exchange(path, path, { token: mine.key });
      expect(refused.status, `${path}: ${refused.body}`).toBe(403);
      expect(JSON.parse(refused.body).error.code, path).toBe(code);
      expect(refused.body.includes(theirs.token), path).toBe(false);
    }
  });
});

describe("revoked secrets stop at once", () => {
  const PROXY_CALLS: Array<[string, string, unknown]> = [
    ["chat", "/v1/chat/completions", CHAT],
    ["unprefixed chat", "/chat/completions", CHAT],
    ["embeddings", "/v1/embeddings", { model: "text-embedding-3-small", input: "a" }],
    ["completions", "/v1/completions", { model: "gpt-4o-mini", prompt: "a", max_tokens: 3 }],
    ["responses", "/v1/responses", { model: "gpt-4o-mini", input: "a", max_output_tokens: 3 }],
    ["models", "/v1/models", undefined],
    ["own info", "/key/info", undefined],
    ["own spend log", "/spend/logs", undefined],
  ];

  async function everySurface(secret: string, expected: number): Promise<void> {
    for (const [what, path, body] of PROXY_CALLS) {
      for (const header of ["authorization", "x-api-key"] as const) {
        const result = await exchange(what, path, header === "authorization" ? { token: secret, body } : { token: null, body, headers: { "x-api-key": secret } });
        expect(result.status, `${what} via ${header}: ${result.body.slice(0, 200)}`).toBe(expected);
        if (expected === 401) expect(JSON.parse(result.body).error.code, `${what} via ${header}`).toBe("invalid_api_key");
      }
    }
  }

  it("regenerating invalidates the old secret on every surface on the very next call, and the new one works", async () => {
    const key = await createKey();
    await everySurface(key.key, 200);
    await settled(key.key);
    const regenerated = await exchange("regenerate", "/key/regenerate", { token: MASTER, body: { key: key.token } });
    expect(regenerated.status).toBe(200);
    const renewed = JSON.parse(regenerated.body) as NewKey;
    await everySurface(key.key, 401);
    await everySurface(renewed.key, 200);
    await settled(renewed.key);
  });

  it("deleting a key stops it on every surface on the very next call", async () => {
    const key = await createKey();
    expect((await exchange("chat before", "/v1/chat/completions", { token: key.key, body: CHAT })).status).toBe(200);
    await settled(key.key);
    const deleted = await exchange("delete", "/key/delete", { token: MASTER, body: { keys: [key.key] } });
    expect(deleted.status).toBe(200);
    await everySurface(key.key, 401);
  });
});
