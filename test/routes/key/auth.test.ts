import { describe, expect, it } from "vitest";
import { call, createKey, MASTER, type NewKey } from "../../helpers/gateway";
import { expectError, ok, unique, unknownSecret } from "../../helpers/key-routes";

interface Route {
  method: "GET" | "POST";
  path: string;
  /** A request that the master key would get a 200 for, for the given key. */
  request(key: NewKey): { path: string; body?: unknown };
}

const ROUTES: Route[] = [
  { method: "POST", path: "/key/generate", request: () => ({ path: "/key/generate", body: { key_alias: unique("alias") } }) },
  { method: "GET", path: "/key/info", request: (key) => ({ path: `/key/info?key=${key.token}` }) },
  { method: "POST", path: "/key/update", request: (key) => ({ path: "/key/update", body: { key: key.token, rpm_limit: 5 } }) },
  { method: "POST", path: "/key/delete", request: (key) => ({ path: "/key/delete", body: { keys: [key.token] } }) },
  { method: "GET", path: "/key/list", request: () => ({ path: "/key/list?size=1" }) },
  { method: "POST", path: "/key/block", request: (key) => ({ path: "/key/block", body: { key: key.token } }) },
  { method: "POST", path: "/key/unblock", request: (key) => ({ path: "/key/unblock", body: { key: key.token } }) },
  { method: "POST", path: "/key/regenerate", request: (key) => ({ path: "/key/regenerate", body: { key: key.token } }) },
];
const ADMIN_ROUTES = ROUTES.filter((route) => route.path !== "/key/info");

/** A key the refused requests name; refused requests change nothing, so one key serves them all. */
let shared: Promise<NewKey> | null = null;
const sharedKey = () => (shared ??= createKey());

function send(route: Route, key: NewKey, auth: { token?: string | null; headers?: Record<string, string> }): Promise<Response> {
  const { path, body } = route.request(key);
  return call(path, { method: route.method, ...(body === undefined ? {} : { body }), ...auth });
}

describe("management API authentication", () => {
  describe("the master key", () => {
    it.each(ROUTES.map((route) => [route.path, route] as const))("is accepted on %s", async (_path, route) => {
      const key = await createKey();
      expect((await send(route, key, { token: MASTER })).status).toBe(200);
    });

    it("is accepted in x-api-key and api-key as well as Authorization", async () => {
      for (const header of ["x-api-key", "api-key"]) {
        const response = await call("/key/list?size=1", { token: null, headers: { [header]: MASTER } });
        expect(response.status, header).toBe(200);
      }
    });

    it("is accepted when the same key is sent in two headers", async () => {
      const response = await call("/key/list?size=1", { headers: { "x-api-key": MASTER } });
      expect(response.status).toBe(200);
    });
  });

  describe("missing or bad credentials", () => {
    it.each(ROUTES.map((route) => [route.path, route] as const))("answers 401 without Authorization on %s", async (_path, route) => {
      const key = await sharedKey();
      await expectError(await send(route, key, { token: null }), 401, { code: "invalid_api_key", type: "authentication_error" });
    });

    it.each([
      ["Basic scheme", `Basic ${btoa(`admin:${MASTER}`)}`],
      ["Bearer without a key", "Bearer"],
      ["Bearer with two words", `Bearer ${MASTER} extra`],
      ["key without scheme", MASTER],
      ["empty header", ""],
    ])("answers 401 to a malformed Authorization header (%s)", async (_name, authorization) => {
      const response = await call("/key/list", { token: null, headers: { authorization } });
      await expectError(response, 401, { code: "invalid_api_key", type: "authentication_error" });
    });

    it.each(ROUTES.map((route) => [route.path, route] as const))("answers 401 to a wrong master key on %s", async (_path, route) => {
      const key = await sharedKey();
      await expectError(await send(route, key, { token: `${MASTER}x` }), 401, { code: "invalid_api_key" });
    });

    it("answers 401, not 403, to a well-formed sk- secret that is not a key", async () => {
      await expectError(await call("/key/list", { token: unknownSecret() }), 401, { code: "invalid_api_key" });
    });

    it("answers 401 to a key's token used as a bearer on admin routes", async () => {
      const key = await createKey();
      await expectError(await call("/key/list", { token: key.token }), 401, { code: "invalid_api_key" });
    });

    it("answers 400 ambiguous_credentials to two different credentials", async () => {
      const virtual = await createKey();
      const response = await call("/key/list", { headers: { "x-api-key": virtual.key } });
      await expectError(response, 400, { code: "ambiguous_credentials", type: "invalid_request_error" });
      const azure = await call("/key/list", { token: virtual.key, headers: { "api-key": MASTER } });
      await expectError(azure, 400, { code: "ambiguous_credentials" });
    });
  });

  describe("virtual keys", () => {
    it.each(ADMIN_ROUTES.map((route) => [route.path, route] as const))("get 403 admin_only on %s", async (_path, route) => {
      const [virtual, target] = await Promise.all([createKey(), createKey({ rpm_limit: 3 })]);
      await expectError(await send(route, target, { token: virtual.key }), 403, { code: "admin_only", type: "permission_error" });
      // Nothing happened to the target.
      const info = await ok(await call(`/key/info?key=${target.token}`));
      expect(info.info).toMatchObject({ rpm_limit: 3, blocked: false });
    });

    it("get 403 admin_only on every admin route for a blocked virtual key too", async () => {
      const virtual = await createKey({ blocked: true });
      const target = await createKey();
      for (const route of ADMIN_ROUTES) {
        await expectError(await send(route, target, { token: virtual.key }), 403, { code: "admin_only" });
      }
    });

    it("may call /key/info about themselves", async () => {
      const virtual = await createKey();
      expect((await call("/key/info", { token: virtual.key })).status).toBe(200);
    });
  });

  describe("routing", () => {
    it("answers 404 route_not_found, OpenAI-shaped, to an unknown route", async () => {
      for (const path of ["/key/nonexistent", "/team/nonexistent", "/v1/unknown"]) {
        const error = await expectError(await call(path, { body: {} }), 404, { code: "route_not_found", type: "not_found_error" });
        expect(error.message).toContain(path);
      }
    });

    it("answers 405 with Allow to a wrong method on a known route", async () => {
      const response = await call("/key/generate", { method: "GET" });
      expect(response.headers.get("allow")).toBe("POST");
      await expectError(response, 405, { code: "method_not_allowed", type: "invalid_request_error" });
      const list = await call("/key/list", { method: "POST", body: {} });
      expect(list.headers.get("allow")).toBe("GET");
      await expectError(list, 405, { code: "method_not_allowed" });
    });
  });
});
