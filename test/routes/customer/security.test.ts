import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../../src/app";
import { call, chat, createKey, MASTER, type NewKey } from "../../helpers/gateway";
import { expectError, ok, unique, unknownSecret } from "../../helpers/key-routes";
import { callWith } from "../../helpers/with-env";
import { customerInfo, newCustomer } from "./customers";

interface Route {
  method: "GET" | "POST";
  path: string;
  /** A request the master key gets a 200 for, about the registered customer `id`. */
  request(id: string): { path: string; body?: unknown };
}

const ROUTES: Route[] = [
  { method: "POST", path: "/customer/new", request: () => ({ path: "/customer/new", body: { user_id: unique("new") } }) },
  { method: "GET", path: "/customer/info", request: (id) => ({ path: `/customer/info?end_user_id=${id}` }) },
  { method: "POST", path: "/customer/update", request: (id) => ({ path: "/customer/update", body: { user_id: id, rpm_limit: 5 } }) },
  { method: "GET", path: "/customer/list", request: () => ({ path: "/customer/list?size=1" }) },
  { method: "POST", path: "/customer/block", request: (id) => ({ path: "/customer/block", body: { user_ids: [id] } }) },
  { method: "POST", path: "/customer/unblock", request: (id) => ({ path: "/customer/unblock", body: { user_ids: [id] } }) },
  { method: "POST", path: "/customer/delete", request: (id) => ({ path: "/customer/delete", body: { user_ids: [id] } }) },
];
const CASES = ROUTES.map((route) => [`${route.method} ${route.path}`, route] as const);

async function customer(): Promise<string> {
  const id = unique("sec");
  await ok(await newCustomer({ user_id: id, alias: "untouched", rpm_limit: 50 }));
  return id;
}

function send(route: Route, id: string, token: string | null): Promise<Response> {
  const { path, body } = route.request(id);
  return call(path, { method: route.method, ...(body === undefined ? {} : { body }), token });
}

/** A refused request changed nothing about the customer it named. */
async function unchanged(id: string): Promise<void> {
  expect(await ok(await customerInfo(id))).toMatchObject({ alias: "untouched", blocked: false, litellm_budget_table: { rpm_limit: 50 } });
}

let shared: Promise<NewKey> | null = null;
const virtualKey = () => (shared ??= createKey());

describe("the /customer routes are the master key's alone", () => {
  it.each(CASES)("the master key is served on %s", async (_name, route) => {
    expect((await send(route, await customer(), MASTER)).status).toBe(200);
  });

  it.each(CASES)("a virtual key gets 403 admin_only on %s, changing nothing", async (_name, route) => {
    const id = await customer();
    await expectError(await send(route, id, (await virtualKey()).key), 403, { code: "admin_only", type: "permission_error" });
    await unchanged(id);
  });

  it.each(CASES)("no credential gets 401 invalid_api_key on %s", async (_name, route) => {
    const id = await customer();
    await expectError(await send(route, id, null), 401, { code: "invalid_api_key", type: "authentication_error" });
    await unchanged(id);
  });

  it.each(CASES)("a wrong master key or an unissued secret gets 401 on %s", async (_name, route) => {
    const id = await customer();
    await expectError(await send(route, id, `${MASTER}x`), 401, { code: "invalid_api_key" });
    await expectError(await send(route, id, unknownSecret()), 401, { code: "invalid_api_key" });
    await unchanged(id);
  });

  it("authenticates before reading the body: a virtual key learns nothing from validation errors", async () => {
    const key = await virtualKey();
    await expectError(await call("/customer/new", { body: { user_id: "bad id" }, token: key.key }), 403, { code: "admin_only" });
    await expectError(await call("/customer/info?end_user_id=bad%20id", { token: null }), 401, { code: "invalid_api_key" });
  });

  it("a virtual key cannot read an end user's spend log, even one it served", async () => {
    const id = await customer();
    const key = await createKey();
    expect((await chat(key.key, { user: id })).status).toBe(200);
    await expectError(await call(`/spend/logs?end_user_id=${id}`, { token: key.key }), 403, { code: "admin_only" });
  });
});

describe("hidden with the rest of the management API", () => {
  function at(vars: Record<string, string>, route: Route, id: string, origin?: string): Promise<Response> {
    const { path, body } = route.request(id);
    const headers: Record<string, string> = { authorization: `Bearer ${MASTER}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const init: RequestInit = { method: route.method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) };
    if (origin === undefined) return callWith(vars, path, init);
    // callWith always calls http://gateway.test; the private hostname needs the app called directly.
    return Promise.resolve(app.fetch(new Request(`${origin}${path}`, init), { ...env, ...vars }, createExecutionContext()));
  }

  async function expectHidden(response: Response, route: Route): Promise<void> {
    const error = await expectError(response, 404, { code: "route_not_found", type: "not_found_error" });
    expect(error.message).toBe(`No route ${route.method} ${route.path}.`);
    expect(response.headers.get("allow")).toBeNull();
  }

  it.each(CASES)("MANAGEMENT_API=off answers 404 route_not_found on %s even to the master key, changing nothing", async (_name, route) => {
    const id = await customer();
    await expectHidden(await at({ MANAGEMENT_API: "off" }, route, id), route);
    await unchanged(id);
  });

  it.each(CASES)("MANAGEMENT_HOSTNAMES hides %s on the public hostname and serves it on the private one", async (_name, route) => {
    const vars = { MANAGEMENT_HOSTNAMES: "admin.internal" };
    const id = await customer();
    await expectHidden(await at(vars, route, id), route);
    await unchanged(id);
    expect((await at(vars, route, id, "http://admin.internal")).status).toBe(200);
  });
});
