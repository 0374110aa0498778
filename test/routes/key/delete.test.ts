import { describe, expect, it } from "vitest";
import { call, chat, createKey, keyInfo } from "../../helpers/gateway";
import { expectError, ok, sha256, unique, unknownSecret } from "../../helpers/key-routes";

const remove = (keys: unknown, token?: string) => call("/key/delete", token === undefined ? { body: { keys } } : { body: { keys }, token });
const listTeam = async (team: string) => ok(await call(`/key/list?team_id=${encodeURIComponent(team)}&size=100`));

describe("POST /key/delete", () => {
  describe("happy path", () => {
    it("answers with the deleted tokens", async () => {
      const [a, b] = await Promise.all([createKey(), createKey()]);
      const body = await ok(await remove([a.key, b.token]));
      expect([...body.deleted_keys].sort()).toEqual([a.token, b.token].sort());
    });

    it("makes the deleted secret get 401 on chat at once", async () => {
      const created = await createKey();
      expect((await chat(created.key)).status).toBe(200);
      await ok(await remove([created.key]));
      await expectError(await chat(created.key), 401, { code: "invalid_api_key", type: "authentication_error" });
    });

    it("makes /key/info answer 404 to the master key, by secret and by token", async () => {
      const created = await createKey();
      await ok(await remove([created.token]));
      await expectError(await call(`/key/info?key=${created.token}`), 404, { code: "key_not_found" });
      await expectError(await call(`/key/info?key=${encodeURIComponent(created.key)}`), 404, { code: "key_not_found" });
    });

    it("makes /key/info answer 401 to the deleted key itself", async () => {
      const created = await createKey();
      await ok(await remove([created.key]));
      await expectError(await call("/key/info", { token: created.key }), 401, { code: "invalid_api_key" });
    });

    it("removes the key from /key/list and leaves its siblings", async () => {
      const team = unique("team");
      const [gone, kept] = await Promise.all([createKey({ team_id: team }), createKey({ team_id: team })]);
      expect((await listTeam(team)).total_count).toBe(2);
      await ok(await remove([gone.key]));
      const listed = await listTeam(team);
      expect(listed.keys).toEqual([kept.token]);
      expect(listed.total_count).toBe(1);
      expect((await chat(kept.key)).status).toBe(200);
    });

    it("treats a secret and its token naming the same key as one key", async () => {
      const created = await createKey();
      const body = await ok(await remove([created.key, created.token]));
      expect(body.deleted_keys).toEqual([created.token]);
    });

    it("lets a deleted caller-chosen secret be issued again with no leftover spend", async () => {
      const chosen = `sk-reuse-${crypto.randomUUID().replace(/-/g, "")}`;
      const first = await createKey({ key: chosen, rpm_limit: 1 });
      expect((await chat(chosen)).status).toBe(200);
      await ok(await remove([first.key]));
      const again = await createKey({ key: chosen, rpm_limit: 1 });
      expect(again.spend).toBe(0);
      expect((await keyInfo(again.token)).usage.requests).toBe(0);
      expect((await chat(chosen)).status).toBe(200);
    });
  });

  describe("errors and validation", () => {
    it("deletes nothing and answers 404 when any named key is missing", async () => {
      const team = unique("team");
      const [a, b] = await Promise.all([createKey({ team_id: team }), createKey({ team_id: team })]);
      const missing = unknownSecret();
      const error = await expectError(await remove([a.key, missing, b.token]), 404, { code: "key_not_found", type: "not_found_error" });
      expect(error.message).toContain(await sha256(missing));
      expect(error.message).not.toContain(a.token);
      expect((await chat(a.key)).status).toBe(200);
      expect((await chat(b.key)).status).toBe(200);
      expect((await keyInfo(a.token)).token).toBe(a.token);
      expect((await listTeam(team)).total_count).toBe(2);
    });

    it("answers 404 to a second delete of the same key", async () => {
      const created = await createKey();
      await ok(await remove([created.key]));
      await expectError(await remove([created.key]), 404, { code: "key_not_found" });
    });

    it("rejects an empty keys list with 400", async () => {
      await expectError(await remove([]), 400, { code: "invalid_request", param: "keys" });
    });

    it("rejects more than 100 keys in one call with 400 and deletes nothing", async () => {
      const created = await createKey();
      const keys = [created.key, ...Array.from({ length: 100 }, () => "0".repeat(64))];
      await expectError(await remove(keys), 400, { code: "invalid_request", param: "keys" });
      expect((await chat(created.key)).status).toBe(200);
    });

    it("rejects a body without keys with 400", async () => {
      await expectError(await call("/key/delete", { body: {} }), 400, { code: "invalid_request", param: "keys" });
    });

    it("rejects keys that is not an array of strings with 400", async () => {
      await expectError(await remove("sk-abc"), 400, { code: "invalid_request", param: "keys" });
      await expectError(await remove([42]), 400, { code: "invalid_request", param: "keys.0" });
    });

    it("rejects a reference that is neither a secret nor a token and deletes nothing", async () => {
      const created = await createKey();
      await expectError(await remove([created.key, "not-a-key"]), 400, { code: "invalid_key_reference", param: "key" });
      expect((await chat(created.key)).status).toBe(200);
    });
  });

  describe("security", () => {
    it("refuses a virtual key with 403 admin_only, even on itself, and deletes nothing", async () => {
      const created = await createKey();
      await expectError(await remove([created.key], created.key), 403, { code: "admin_only", type: "permission_error" });
      expect((await chat(created.key)).status).toBe(200);
    });

    it("refuses a wrong master key with 401 and deletes nothing", async () => {
      const created = await createKey();
      await expectError(await remove([created.key], unknownSecret()), 401, { code: "invalid_api_key" });
      expect((await chat(created.key)).status).toBe(200);
    });
  });
});
