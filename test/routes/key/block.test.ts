import { describe, expect, it } from "vitest";
import { call, chat, createKey, keyInfo } from "../../helpers/gateway";
import { expectError, ok, sha256, unknownSecret } from "../../helpers/key-routes";

const block = (key: string, token?: string) => call("/key/block", token === undefined ? { body: { key } } : { body: { key }, token });
const unblock = (key: string, token?: string) => call("/key/unblock", token === undefined ? { body: { key } } : { body: { key }, token });

describe("POST /key/block and /key/unblock", () => {
  describe("happy path", () => {
    it("blocks: the next chat call gets 403 key_blocked and info shows blocked", async () => {
      const created = await createKey();
      expect((await chat(created.key)).status).toBe(200);
      const body = await ok(await block(created.key));
      expect(body.key).toBe(created.token);
      expect(body.info.blocked).toBe(true);
      await expectError(await chat(created.key), 403, { code: "key_blocked", type: "permission_error" });
      expect((await keyInfo(created.token)).blocked).toBe(true);
    });

    it("unblocks: chat works again and info shows not blocked", async () => {
      const created = await createKey();
      await ok(await block(created.key));
      await expectError(await chat(created.key), 403, { code: "key_blocked" });
      const body = await ok(await unblock(created.key));
      expect(body.info.blocked).toBe(false);
      expect((await chat(created.key)).status).toBe(200);
      expect((await keyInfo(created.token)).blocked).toBe(false);
    });

    it("accepts the key by token", async () => {
      const created = await createKey();
      await ok(await block(created.token));
      await expectError(await chat(created.key), 403, { code: "key_blocked" });
      await ok(await unblock(created.token));
      expect((await chat(created.key)).status).toBe(200);
    });

    it("is idempotent", async () => {
      const created = await createKey();
      await ok(await block(created.key));
      expect((await ok(await block(created.key))).info.blocked).toBe(true);
      await expectError(await chat(created.key), 403, { code: "key_blocked" });
      await ok(await unblock(created.key));
      expect((await ok(await unblock(created.key))).info.blocked).toBe(false);
      expect((await chat(created.key)).status).toBe(200);
    });

    it("blocks a key generated with blocked: true until it is unblocked", async () => {
      const created = await createKey({ blocked: true });
      await expectError(await chat(created.key), 403, { code: "key_blocked" });
      await ok(await unblock(created.key));
      expect((await chat(created.key)).status).toBe(200);
    });

    it("keeps every other setting when blocking and unblocking", async () => {
      const settings = { rpm_limit: 17, tpm_limit: 1700, max_budget: 3, models: ["gpt-4o-mini"], metadata: { a: 1 } };
      const created = await createKey(settings);
      await ok(await block(created.key));
      await ok(await unblock(created.key));
      expect(await keyInfo(created.token)).toMatchObject({ ...settings, blocked: false });
    });

    it("does not count refused calls of a blocked key against its limits", async () => {
      const created = await createKey({ rpm_limit: 1 });
      await ok(await block(created.key));
      for (let i = 0; i < 3; i += 1) await expectError(await chat(created.key), 403, { code: "key_blocked" });
      await ok(await unblock(created.key));
      expect((await chat(created.key)).status).toBe(200);
    });
  });

  describe("errors and validation", () => {
    it("answers 404 for an unknown key on both routes", async () => {
      const secret = unknownSecret();
      await expectError(await block(secret), 404, { code: "key_not_found", type: "not_found_error" });
      await expectError(await unblock(await sha256(secret)), 404, { code: "key_not_found" });
    });

    it("rejects a body without key, or with extra fields, with 400", async () => {
      const created = await createKey();
      await expectError(await call("/key/block", { body: {} }), 400, { code: "invalid_request", param: "key" });
      await expectError(await call("/key/block", { body: { key: created.key, blocked: false } }), 400, { code: "invalid_request" });
      expect((await chat(created.key)).status).toBe(200);
    });

    it("rejects a reference that is neither a secret nor a token with 400", async () => {
      await expectError(await block("key-123"), 400, { code: "invalid_key_reference", param: "key" });
    });
  });

  describe("security", () => {
    it("refuses to let a blocked virtual key unblock itself (403 admin_only)", async () => {
      const created = await createKey();
      await ok(await block(created.key));
      await expectError(await unblock(created.key, created.key), 403, { code: "admin_only", type: "permission_error" });
      await expectError(await chat(created.key), 403, { code: "key_blocked" });
    });

    it("refuses to let a virtual key block another key (403 admin_only)", async () => {
      const [attacker, victim] = await Promise.all([createKey(), createKey()]);
      await expectError(await block(victim.key, attacker.key), 403, { code: "admin_only" });
      expect((await chat(victim.key)).status).toBe(200);
    });

    it("refuses a wrong master key with 401", async () => {
      const created = await createKey();
      await expectError(await block(created.key, unknownSecret()), 401, { code: "invalid_api_key" });
      expect((await chat(created.key)).status).toBe(200);
    });
  });
});
