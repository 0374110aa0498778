import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { call, createKey, json, MASTER, settled, type NewKey } from "../helpers/gateway";

/** Calls the app at any origin (host) with some variables changed. */
function at(origin: string, vars: Record<string, string>, path: string, init: RequestInit = {}): Promise<Response> {
  return Promise.resolve(app.fetch(new Request(`${origin}${path}`, init), { ...env, ...vars }, createExecutionContext()));
}
const GATEWAY = "http://gateway.test";
const CHAT = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }], max_tokens: 5 };

function post(token: string, body: unknown, extra: Record<string, string> = {}): RequestInit {
  return { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...extra }, body: JSON.stringify(body) };
}
function get(token: string, extra: Record<string, string> = {}): RequestInit {
  return { headers: { authorization: `Bearer ${token}`, ...extra } };
}

interface ManagementRoute {
  method: "GET" | "POST";
  path: string;
  /** A request the master key gets a 2xx for when the API is exposed. */
  request(key: NewKey, team: string): { path: string; body?: unknown };
}

/** Every management route; the completeness test below keeps this list in step with the app. */
const MANAGEMENT: ManagementRoute[] = [
  { method: "POST", path: "/key/generate", request: () => ({ path: "/key/generate", body: {} }) },
  { method: "GET", path: "/key/info", request: (key) => ({ path: `/key/info?key=${key.token}` }) },
  { method: "POST", path: "/key/update", request: (key) => ({ path: "/key/update", body: { key: key.token, rpm_limit: 7 } }) },
  { method: "POST", path: "/key/delete", request: (key) => ({ path: "/key/delete", body: { keys: [key.token] } }) },
  { method: "GET", path: "/key/list", request: () => ({ path: "/key/list" }) },
  { method: "POST", path: "/key/block", request: (key) => ({ path: "/key/block", body: { key: key.token } }) },
  { method: "POST", path: "/key/unblock", request: (key) => ({ path: "/key/unblock", body: { key: key.token } }) },
  { method: "POST", path: "/key/regenerate", request: (key) => ({ path: "/key/regenerate", body: { key: key.token } }) },
  { method: "POST", path: "/team/new", request: () => ({ path: "/team/new", body: {} }) },
  { method: "GET", path: "/team/info", request: (_key, team) => ({ path: `/team/info?team_id=${team}` }) },
  { method: "POST", path: "/team/update", request: (_key, team) => ({ path: "/team/update", body: { team_id: team, rpm_limit: 9 } }) },
  { method: "POST", path: "/team/delete", request: () => ({ path: "/team/delete", body: { team_ids: ["no-such-team"] } }) },
  { method: "GET", path: "/team/list", request: () => ({ path: "/team/list" }) },
  { method: "GET", path: "/spend/logs", request: (key) => ({ path: `/spend/logs?api_key=${key.token}` }) },
  // The fixture registers a customer named like its team.
  { method: "POST", path: "/customer/new", request: () => ({ path: "/customer/new", body: { user_id: `new-${crypto.randomUUID()}` } }) },
  { method: "GET", path: "/customer/info", request: (_key, team) => ({ path: `/customer/info?end_user_id=${team}` }) },
  { method: "POST", path: "/customer/update", request: (_key, team) => ({ path: "/customer/update", body: { user_id: team, alias: "renamed" } }) },
  { method: "POST", path: "/customer/delete", request: () => ({ path: "/customer/delete", body: { user_ids: ["no-such-customer"] } }) },
  { method: "GET", path: "/customer/list", request: () => ({ path: "/customer/list" }) },
  { method: "POST", path: "/customer/block", request: (_key, team) => ({ path: "/customer/block", body: { user_ids: [team] } }) },
  { method: "POST", path: "/customer/unblock", request: (_key, team) => ({ path: "/customer/unblock", body: { user_ids: [team] } }) },
];

function requestFor(route: ManagementRoute, key: NewKey, team: string, token = MASTER): { path: string; init: RequestInit } {
  const { path, body } = route.request(key, team);
  return { path, init: body === undefined ? get(token) : post(token, body) };
}

async function expectHidden(response: Response, method: string, path: string): Promise<void> {
  const text = await response.text();
  expect(response.status, `${method} ${path}: ${text}`).toBe(404);
  expect(JSON.parse(text)).toEqual({
    error: { message: `No route ${method} ${path.split("?")[0]}.`, type: "not_found_error", param: null, code: "route_not_found" },
  });
  expect(response.headers.get("allow"), "a hidden route must not advertise its methods").toBeNull();
}

async function keyCount(): Promise<number> {
  return (await json(await call("/key/list?size=1"))).total_count as number;
}

async function fixture(): Promise<{ key: NewKey; team: string }> {
  const team = `exposure-${crypto.randomUUID()}`;
  expect((await call("/team/new", { body: { team_id: team } })).status).toBe(200);
  expect((await call("/customer/new", { body: { user_id: team } })).status).toBe(200);
  return { key: await createKey(), team };
}

describe("the management route list", () => {
  it("names every /key, /team, /customer and /spend route the app serves", () => {
    const served = new Set(app.routes.filter((route) => /^\/(key|team|customer|spend)\//.test(route.path) && route.method !== "ALL").map((route) => `${route.method} ${route.path}`));
    expect([...served].sort()).toEqual(MANAGEMENT.map((route) => `${route.method} ${route.path}`).sort());
  });
});

describe("MANAGEMENT_API=off", () => {
  const OFF = { MANAGEMENT_API: "off" };

  it.each(MANAGEMENT.map((route) => [`${route.method} ${route.path}`, route] as const))(
    "hides %s behind 404 route_not_found even for the master key, changing nothing",
    async (_name, route) => {
      const { key, team } = await fixture();
      const before = await keyCount();
      const { path, init } = requestFor(route, key, team);
      await expectHidden(await at(GATEWAY, OFF, path, init), route.method, path);
      // Nothing happened: the key still exists, unchanged, and nothing was created.
      const info = await json(await call(`/key/info?key=${key.token}`));
      expect(info.info).toMatchObject({ token: key.token, rpm_limit: null, blocked: false });
      expect((await json(await call(`/team/info?team_id=${team}`))).team_info).toMatchObject({ team_id: team, rpm_limit: null });
      expect(await keyCount()).toBe(before);
    },
  );

  it("answers a wrong method on a hidden route 404, not 405 with Allow", async () => {
    await expectHidden(await at(GATEWAY, OFF, "/key/generate", get(MASTER)), "GET", "/key/generate");
    await expectHidden(await at(GATEWAY, OFF, "/key/list", post(MASTER, {})), "POST", "/key/list");
  });

  it("hides the routes from virtual keys and anonymous callers alike", async () => {
    const key = await createKey();
    await expectHidden(await at(GATEWAY, OFF, "/key/info", get(key.key)), "GET", "/key/info");
    await expectHidden(await at(GATEWAY, OFF, "/spend/logs", get(key.key)), "GET", "/spend/logs");
    await expectHidden(await at(GATEWAY, OFF, "/key/list"), "GET", "/key/list");
  });

  it("keeps the proxy working", async () => {
    const key = await createKey();
    const chat = await at(GATEWAY, OFF, "/v1/chat/completions", post(key.key, CHAT));
    expect(chat.status, await chat.clone().text()).toBe(200);
    expect((await json(chat)).object).toBe("chat.completion");
    expect((await at(GATEWAY, OFF, "/v1/models", get(key.key))).status).toBe(200);
    expect((await at(GATEWAY, OFF, "/health")).status).toBe(200);
    expect((await settled(key.key)).usage.requests).toBe(1);
  });
});

describe("MANAGEMENT_HOSTNAMES=admin.internal", () => {
  const PRIVATE = { MANAGEMENT_HOSTNAMES: "admin.internal" };

  it.each(MANAGEMENT.map((route) => [`${route.method} ${route.path}`, route] as const))(
    "hides %s on the public hostname but serves it on admin.internal",
    async (_name, route) => {
      const { key, team } = await fixture();
      const { path, init } = requestFor(route, key, team);
      await expectHidden(await at(GATEWAY, PRIVATE, path, init), route.method, path);
      const served = await at("http://admin.internal", PRIVATE, path, requestFor(route, key, team).init);
      // /team/delete names a team that does not exist, so its route answers 404 team_not_found, not route_not_found.
      const text = await served.text();
      if (route.path === "/team/delete") expect(JSON.parse(text).error.code).toBe("team_not_found");
      else if (route.path === "/customer/delete") expect(JSON.parse(text).error.code).toBe("end_user_not_found");
      else expect(served.status, `${route.method} ${path} on admin.internal: ${text}`).toBe(200);
    },
  );

  it("matches the hostname exactly, case-insensitively, on any port, from a comma-separated list", async () => {
    const vars = { MANAGEMENT_HOSTNAMES: " Admin.Internal , ops.internal " };
    for (const origin of ["http://admin.internal", "https://ADMIN.INTERNAL:8443", "http://ops.internal"]) {
      expect((await at(origin, vars, "/key/list", get(MASTER))).status, origin).toBe(200);
    }
    for (const origin of ["http://admin.internal.evil.test", "http://evil-admin.internal", "http://internal", "http://gateway.test"]) {
      await expectHidden(await at(origin, vars, "/key/list", get(MASTER)), "GET", "/key/list");
    }
  });

  it("is not fooled by a Host or X-Forwarded-Host header naming the private hostname", async () => {
    for (const header of ["host", "x-forwarded-host", "x-original-host"]) {
      const response = await at(GATEWAY, PRIVATE, "/key/list", get(MASTER, { [header]: "admin.internal" }));
      await expectHidden(response, "GET", "/key/list");
    }
  });

  it("keeps the proxy working on the public hostname", async () => {
    const key = await createKey();
    expect((await at(GATEWAY, PRIVATE, "/v1/chat/completions", post(key.key, CHAT))).status).toBe(200);
    await settled(key.key);
  });
});

describe("CORS", () => {
  const APP = "https://app.example";
  const ALLOWED = { CORS_ORIGINS: APP };
  const preflight = (origin: string, method = "POST"): RequestInit => ({
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": method, "access-control-request-headers": "authorization,content-type" },
  });
  const corsHeaders = (response: Response) => [...response.headers.keys()].filter((name) => name.startsWith("access-control-"));

  it("is off without CORS_ORIGINS: no access-control-* header, even on a preflight or a successful call", async () => {
    const key = await createKey();
    for (const path of ["/v1/chat/completions", "/chat/completions", "/v1/embeddings", "/v1/models"]) {
      const response = await at(GATEWAY, {}, path, preflight(APP));
      expect(corsHeaders(response), path).toEqual([]);
    }
    const chat = await at(GATEWAY, {}, "/v1/chat/completions", post(key.key, CHAT, { origin: APP }));
    expect(chat.status).toBe(200);
    expect(corsHeaders(chat)).toEqual([]);
    await settled(key.key);
  });

  it("answers a preflight from a listed origin with the allow headers, exposing x-ratelimit-* and retry-after-ms", async () => {
    for (const path of ["/v1/chat/completions", "/chat/completions", "/v1/responses", "/v1/models"]) {
      const response = await at(GATEWAY, ALLOWED, path, preflight(APP));
      expect(response.status, path).toBeLessThan(300);
      expect(response.headers.get("access-control-allow-origin"), path).toBe(APP);
      expect(response.headers.get("access-control-allow-methods")?.split(",")).toContain("POST");
      const allowHeaders = response.headers.get("access-control-allow-headers")?.toLowerCase().split(",") ?? [];
      expect(allowHeaders).toEqual(expect.arrayContaining(["authorization", "content-type"]));
      const exposed = response.headers.get("access-control-expose-headers")?.toLowerCase().split(",") ?? [];
      expect(exposed).toEqual(expect.arrayContaining([
        "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
        "retry-after", "retry-after-ms",
      ]));
      expect(response.headers.get("access-control-allow-credentials"), "no cookies cross-origin").toBeNull();
      expect(response.headers.get("vary")?.toLowerCase()).toContain("origin");
    }
  });

  it("lets the listed origin read the answer and the rate-limit headers, also on a 429", async () => {
    const key = await createKey({ rpm_limit: 1, tpm_limit: 100_000 });
    const first = await at(GATEWAY, ALLOWED, "/v1/chat/completions", post(key.key, CHAT, { origin: APP }));
    expect(first.status).toBe(200);
    expect(first.headers.get("access-control-allow-origin")).toBe(APP);
    expect(first.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    const limited = await at(GATEWAY, ALLOWED, "/v1/chat/completions", post(key.key, CHAT, { origin: APP }));
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after-ms")).not.toBeNull();
    expect(limited.headers.get("access-control-allow-origin"), "a browser must be able to read the 429").toBe(APP);
    expect(limited.headers.get("access-control-expose-headers")?.toLowerCase()).toContain("retry-after-ms");
    await settled(key.key);
  });

  it("does not answer any other origin", async () => {
    const key = await createKey();
    for (const origin of ["https://evil.example", "https://app.example.evil.test", "http://app.example", "null", "https://APP.example"]) {
      const response = await at(GATEWAY, ALLOWED, "/v1/chat/completions", preflight(origin));
      expect(response.headers.get("access-control-allow-origin"), origin).toBeNull();
    }
    const chat = await at(GATEWAY, ALLOWED, "/v1/chat/completions", post(key.key, CHAT, { origin: "https://evil.example" }));
    expect(chat.headers.get("access-control-allow-origin")).toBeNull();
    await settled(key.key);
  });

  it.each([["a listed origin", { CORS_ORIGINS: APP }], ["a wildcard", { CORS_ORIGINS: "*" }]] as const)(
    "never answers CORS on management routes, even with %s",
    async (_name, vars) => {
      const { key, team } = await fixture();
      for (const route of MANAGEMENT) {
        const pre = await at(GATEWAY, vars, route.path, preflight(APP, route.method));
        expect(corsHeaders(pre), `preflight ${route.path}`).toEqual([]);
        const { path, init } = requestFor(route, key, team);
        const actual = await at(GATEWAY, vars, path, { ...init, headers: { ...(init.headers as Record<string, string>), origin: APP } });
        expect(corsHeaders(actual), `${route.method} ${route.path}`).toEqual([]);
      }
    },
  );
});
