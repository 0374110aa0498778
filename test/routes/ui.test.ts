import { createExecutionContext, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { contentVersion, VERSION_DIGITS } from "../../src/routes/ui";
import { deploymentStub } from "../helpers/objects";
import { call, chat, createKey, json, MASTER, settled } from "../helpers/gateway";
import { callWith } from "../helpers/with-env";

/** The dashboard's static files (ui/, Workers static assets) and the routes it reads. */

const get = (path: string, headers: Record<string, string> = {}) => call(path, { token: null, headers });

async function versionOf(path: string): Promise<string> {
  const response = await get(path);
  expect(response.status).toBe(200);
  return contentVersion(await response.arrayBuffer());
}

describe("the dashboard's files", () => {
  it("are bound as static assets in the test pool, as wrangler.toml binds them", () => {
    expect(typeof (env as unknown as { ASSETS?: { fetch?: unknown } }).ASSETS?.fetch).toBe("function");
  });

  it("serve the page at /ui, /ui/ and /ui/index.html without credentials, revalidated on every load", async () => {
    for (const path of ["/ui", "/ui/", "/ui/index.html"]) {
      const response = await get(path);
      expect(response.status, path).toBe(200);
      expect(response.headers.get("content-type"), path).toMatch(/^text\/html/);
      expect(response.headers.get("cache-control"), path).toBe("no-cache");
      expect(response.headers.get("etag"), path).toBeTruthy();
      expect(response.headers.get("content-security-policy"), path).toContain("script-src 'self'");
      expect(response.headers.get("content-security-policy"), path).toContain("frame-ancestors 'none'");
      expect(response.headers.get("x-content-type-options"), path).toBe("nosniff");
      expect(await response.text(), path).toContain('<script type="module" src="/ui/app.js?v=');
    }
  });

  it("answer an unchanged page with 304 to a conditional request", async () => {
    const etag = (await get("/ui")).headers.get("etag")!;
    const again = await get("/ui", { "if-none-match": etag });
    expect(again.status).toBe(304);
    expect(again.headers.get("cache-control")).toBe("no-cache");
  });

  it("name each script and stylesheet by its content's version, which is cached for a year; any other version is not", async () => {
    const html = await (await get("/ui")).text();
    for (const [file, type] of [["app.js", /javascript/], ["app.css", /text\/css/]] as const) {
      const named = new RegExp(`/ui/${file.replace(".", "\\.")}\\?v=([0-9a-f]{${VERSION_DIGITS}})`).exec(html)?.[1];
      const actual = await versionOf(`/ui/${file}`);
      expect(named, `ui/index.html must name /ui/${file}?v=${actual} (its SHA-256 prefix; run node ui/stamp.mjs); it names v=${named}`).toBe(actual);

      const versioned = await get(`/ui/${file}?v=${actual}`);
      expect(versioned.status).toBe(200);
      expect(versioned.headers.get("content-type")).toMatch(type);
      expect(versioned.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(versioned.headers.get("x-content-type-options")).toBe("nosniff");

      for (const path of [`/ui/${file}`, `/ui/${file}?v=000000000000`]) {
        const response = await get(path);
        expect(response.status, path).toBe(200);
        expect(response.headers.get("cache-control"), path).toBe("no-cache");
      }
    }
  });

  it("answer HEAD with the headers and no body", async () => {
    const response = await call("/ui", { method: "HEAD", token: null });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-cache");
    expect(await response.text()).toBe("");
  });

  it("answer 404 for files that do not exist, never cached, and serve nothing of the repository", async () => {
    for (const path of ["/ui/nope.js", "/ui/app.js/x", "/ui/.assetsignore", "/ui/stamp.mjs", "/ui/../wrangler.toml", "/ui/%2e%2e/wrangler.toml", "/index.html", "/app.js"]) {
      const response = await get(path);
      expect(response.status, path).toBe(404);
      const body = await json(response);
      expect(body.error.code, path).toBe("route_not_found");
    }
    expect((await get("/ui/nope.js")).headers.get("cache-control")).toBe("no-store");
  });

  it("hold no management data: the page is the same before and after keys exist, and every number needs a key", async () => {
    const before = await (await get("/ui")).text();
    const key = await createKey({ key_alias: "dashboard-private-alias", max_budget: 3 });
    const after = await (await get("/ui")).text();
    expect(after).toBe(before);
    const script = await (await get("/ui/app.js")).text();
    for (const text of [after, script]) {
      expect(text).not.toContain(key.key);
      expect(text).not.toContain(key.token);
      expect(text).not.toContain("dashboard-private-alias");
      expect(text).not.toContain(MASTER);
    }
    for (const path of ["/key/list?return_full_object=true", "/team/list", "/deployment/list", `/key/info?key=${key.token}`, `/spend/logs?api_key=${key.token}`, "/ui/session"]) {
      const response = await get(path);
      expect(response.status, path).toBe(401);
      const text = await response.text();
      expect(text, path).not.toContain(key.token);
      expect(text, path).not.toContain("dashboard-private-alias");
    }
  });

  it("are hidden with the management API: MANAGEMENT_API=off and MANAGEMENT_HOSTNAMES answer 404", async () => {
    for (const path of ["/ui", "/ui/", "/ui/app.js", "/ui/session", "/deployment/list"]) {
      expect((await callWith({ MANAGEMENT_API: "off" }, path)).status, path).toBe(404);
      expect((await callWith({ MANAGEMENT_HOSTNAMES: "admin.internal" }, path)).status, path).toBe(404);
    }
    for (const path of ["/ui", "/ui/app.js"]) expect((await onHost(`http://admin.internal${path}`, { MANAGEMENT_HOSTNAMES: "admin.internal" })).status, path).toBe(200);
  });
});

/** The app reached on another hostname than the helpers' gateway.test. */
const onHost = (url: string, vars: Record<string, string>) => app.fetch(new Request(url), { ...env, ...vars }, createExecutionContext());

describe("/ui/session: who the dashboard signed in as", () => {
  it("is the master key, a virtual key that may call (its own token), or a refusal", async () => {
    expect(await json(await call("/ui/session"))).toEqual({ role: "master" });
    const key = await createKey({ key_alias: "self" });
    const own = await call("/ui/session", { token: key.key });
    expect(own.status).toBe(200);
    expect(own.headers.get("cache-control")).toBe("no-store");
    expect(await json(own)).toMatchObject({ role: "key", token: key.token, key_alias: "self" });

    expect((await call("/ui/session", { token: "sk-not-a-real-key-at-all-000000" })).status).toBe(401);
    expect((await call("/ui/session", { token: null })).status).toBe(401);
    expect((await call("/key/block", { body: { key: key.key } })).status).toBe(200);
    const blocked = await call("/ui/session", { token: key.key });
    expect(blocked.status).toBe(403);
    expect((await json(blocked)).error.code).toBe("key_blocked");
  });
});

describe("/deployment/list", () => {
  it("is for the master key only", async () => {
    const key = await createKey();
    const response = await call("/deployment/list", { token: key.key });
    expect(response.status).toBe(403);
    expect((await json(response)).error.code).toBe("admin_only");
  });

  it("lists every configured deployment with its live window, remaining capacity and cool-down, from its own object", async () => {
    const list = async () => (await json(await call("/deployment/list"))) as { window_seconds: number; deployments: Array<Record<string, any>> };
    const first = await list();
    expect(first.window_seconds).toBe(60);
    const ids = first.deployments.map((deployment) => deployment.id);
    expect(ids).toEqual(expect.arrayContaining(["pool-a", "pool-b", "shared-1", "failover-a", "claude-itpm-1"]));
    const shared = first.deployments.find((deployment) => deployment.id === "shared-1")!;
    expect(shared).toMatchObject({ model_group: "shared-model", model: "gpt-4o-mini", api: "openai", tpm_limit: 3000, rpm_limit: 40, cooling_down: false, cooldown_ms: 0 });
    const claude = first.deployments.find((deployment) => deployment.id === "claude-itpm-1")!;
    expect(claude).toMatchObject({ itpm: 3000, otpm: 400, api: "anthropic" });

    const key = await createKey();
    expect((await chat(key.key, { model: "shared-model" })).status).toBe(200);
    await settled(key.key);
    const view = await runInDurableObject(deploymentStub("shared-1"), (instance) => instance.view());
    const after = (await list()).deployments.find((deployment) => deployment.id === "shared-1")!;
    expect(after.used).toBe(true);
    expect(after.requests).toBe(1);
    expect(after.tokens).toBe(view!.snapshot.window.tokens);
    expect(after.remaining_tokens).toBe(3000 - after.tokens);
    expect(after.remaining_requests).toBe(39);
    expect(after.in_flight).toBe(0);

    await runInDurableObject(deploymentStub("shared-1"), (instance) => instance.coolDown(30_000));
    const cooling = (await list()).deployments.find((deployment) => deployment.id === "shared-1")!;
    expect(cooling.cooling_down).toBe(true);
    expect(cooling.cooldown_ms).toBeGreaterThan(25_000);
    expect(cooling.cooldown_ms).toBeLessThanOrEqual(30_000);
  });
});
