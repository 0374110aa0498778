import { describe, expect, it } from "vitest";
import { call, chat, createKey, settled, type NewKey } from "../../helpers/gateway";
import { expectError, ok, sha256, sleep, unique } from "../../helpers/key-routes";

const list = (query: Record<string, string | number>, token?: string) => {
  const search = new URLSearchParams(Object.entries(query).map(([name, value]): [string, string] => [name, String(value)]));
  return call(`/key/list?${search}`, token === undefined ? {} : { token });
};

/** Keys created a few milliseconds apart, so "newest first" has one right answer. */
async function keysInOrder(count: number, settings: Record<string, unknown>): Promise<NewKey[]> {
  const keys: NewKey[] = [];
  for (let i = 0; i < count; i += 1) {
    keys.push(await createKey(settings));
    await sleep(3);
  }
  return keys;
}

describe("GET /key/list", () => {
  describe("happy path", () => {
    it("pages with page/size, total_count, total_pages and current_page", async () => {
      const team = unique("team");
      const keys = await keysInOrder(5, { team_id: team });
      const pages = [];
      for (const page of [1, 2, 3]) {
        const body = await ok(await list({ team_id: team, page, size: 2 }));
        expect(body).toMatchObject({ total_count: 5, total_pages: 3, current_page: page });
        pages.push(body.keys as string[]);
      }
      expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
      const seen = pages.flat();
      expect(new Set(seen).size).toBe(5);
      expect([...seen].sort()).toEqual(keys.map((key) => key.token).sort());
    });

    it("lists newest first", async () => {
      const team = unique("team");
      const keys = await keysInOrder(3, { team_id: team });
      const body = await ok(await list({ team_id: team }));
      expect(body.keys).toEqual(keys.map((key) => key.token).reverse());
    });

    it("answers an empty page past the end with the true totals", async () => {
      const team = unique("team");
      await keysInOrder(3, { team_id: team });
      const body = await ok(await list({ team_id: team, page: 5, size: 2 }));
      expect(body).toEqual({ keys: [], total_count: 3, current_page: 5, total_pages: 2 });
    });

    it("defaults to page 1 of size 10", async () => {
      const team = unique("team");
      await Promise.all(Array.from({ length: 11 }, () => createKey({ team_id: team })));
      const body = await ok(await list({ team_id: team }));
      expect(body.keys).toHaveLength(10);
      expect(body).toMatchObject({ total_count: 11, current_page: 1, total_pages: 2 });
    });

    it("filters by team_id", async () => {
      const [mine, other] = [unique("team"), unique("team")];
      const [a, b] = await Promise.all([createKey({ team_id: mine }), createKey({ team_id: mine }), createKey({ team_id: other }), createKey()]);
      const body = await ok(await list({ team_id: mine }));
      expect([...body.keys].sort()).toEqual([a!.token, b!.token].sort());
      expect(body.total_count).toBe(2);
    });

    it("filters by key_alias", async () => {
      const alias = unique("alias");
      const [wanted] = await Promise.all([createKey({ key_alias: alias }), createKey({ key_alias: unique("alias") }), createKey()]);
      const body = await ok(await list({ key_alias: alias }));
      expect(body.keys).toEqual([wanted!.token]);
      expect(body.total_count).toBe(1);
    });

    it("filters by user_id", async () => {
      const user = unique("user");
      const [wanted] = await Promise.all([createKey({ user_id: user }), createKey({ user_id: unique("user") })]);
      const body = await ok(await list({ user_id: user }));
      expect(body.keys).toEqual([wanted!.token]);
    });

    it("combines team_id and key_alias filters", async () => {
      const [team, alias] = [unique("team"), unique("alias")];
      const [both] = await Promise.all([
        createKey({ team_id: team, key_alias: alias }),
        createKey({ team_id: team, key_alias: unique("alias") }),
        createKey({ team_id: unique("team"), key_alias: alias }),
      ]);
      const body = await ok(await list({ team_id: team, key_alias: alias }));
      expect(body.keys).toEqual([both!.token]);
    });

    it("answers hashed tokens by default, never secrets", async () => {
      const team = unique("team");
      const keys = await Promise.all([createKey({ team_id: team }), createKey({ team_id: team })]);
      const response = await list({ team_id: team });
      const text = await response.clone().text();
      const body = await ok(response);
      for (const token of body.keys as unknown[]) expect(token).toMatch(/^[0-9a-f]{64}$/);
      expect([...body.keys].sort()).toEqual((await Promise.all(keys.map((key) => sha256(key.key)))).sort());
      for (const key of keys) expect(text).not.toContain(key.key.slice(3));
    });

    it("answers info objects with live spend when return_full_object=true, never secrets", async () => {
      const team = unique("team");
      const spender = await createKey({ team_id: team, rpm_limit: 7, max_budget: 1 });
      expect((await chat(spender.key)).status).toBe(200);
      const spent = await settled(spender.key);
      await sleep(3);
      const idle = await createKey({ team_id: team });
      const response = await list({ team_id: team, return_full_object: "true" });
      const text = await response.clone().text();
      const body = await ok(response);
      expect(body.total_count).toBe(2);
      expect(body.keys).toHaveLength(2);
      const [first, second] = body.keys as Array<Record<string, any>>;
      expect(first).toMatchObject({ token: idle.token, team_id: team, spend: 0 });
      expect(second).toMatchObject({ token: spender.token, team_id: team, rpm_limit: 7, max_budget: 1, spend: spent.spend });
      expect(second!.spend).toBeGreaterThan(0);
      expect(second!.usage).toMatchObject({ requests: 1, in_flight: 0 });
      expect(text).not.toContain(spender.key.slice(3));
      expect(text).not.toContain(idle.key.slice(3));
    });

    it("answers tokens when return_full_object=false", async () => {
      const team = unique("team");
      const created = await createKey({ team_id: team });
      const body = await ok(await list({ team_id: team, return_full_object: "false" }));
      expect(body.keys).toEqual([created.token]);
    });

    it("answers nothing for a filter that matches no key", async () => {
      const body = await ok(await list({ team_id: unique("team") }));
      expect(body).toEqual({ keys: [], total_count: 0, current_page: 1, total_pages: 0 });
    });
  });

  describe("validation", () => {
    it("rejects size > 100 with 400 naming size", async () => {
      await expectError(await list({ size: 101 }), 400, { code: "invalid_request", type: "invalid_request_error", param: "size" });
    });

    it("accepts size = 100", async () => {
      const body = await ok(await list({ size: 100, team_id: unique("team") }));
      expect(body.total_pages).toBe(0);
    });

    it.each([
      ["size 0", { size: 0 }, "size"],
      ["fractional size", { size: 2.5 }, "size"],
      ["page 0", { page: 0 }, "page"],
      ["non-numeric page", { page: "two" }, "page"],
      ["return_full_object that is not true/false", { return_full_object: "yes" }, "return_full_object"],
      ["an empty team_id", { team_id: "" }, "team_id"],
    ])("rejects %s with 400", async (_name, query, param) => {
      await expectError(await list(query), 400, { code: "invalid_request", param });
    });

    it("rejects an unknown query parameter with 400 naming it", async () => {
      const error = await expectError(await list({ team: "x" }), 400, { code: "invalid_request" });
      expect(error.message).toContain("team");
    });
  });

  describe("security", () => {
    it("refuses a virtual key with 403 admin_only", async () => {
      const created = await createKey();
      await expectError(await list({}, created.key), 403, { code: "admin_only", type: "permission_error" });
    });

    it("refuses a missing or wrong master key with 401", async () => {
      await expectError(await call("/key/list", { token: null }), 401, { code: "invalid_api_key" });
      await expectError(await list({}, "sk-test-master2"), 401, { code: "invalid_api_key" });
    });
  });
});
