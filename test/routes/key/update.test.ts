import { describe, expect, it } from "vitest";
import { call, chat, createKey, ensureTeam, keyInfo, shiftClock } from "../../helpers/gateway";
import { expectError, ok, sha256, unique, unknownSecret } from "../../helpers/key-routes";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const update = (body: unknown, token?: string) => call("/key/update", token === undefined ? { body } : { body, token });

describe("POST /key/update", () => {
  describe("happy path", () => {
    it("changes rpm_limit, answering {key: token, info} with the new value", async () => {
      const created = await createKey({ rpm_limit: 100 });
      const body = await ok(await update({ key: created.key, rpm_limit: 1 }));
      expect(body.key).toBe(created.token);
      expect(body.info.rpm_limit).toBe(1);
      expect(body.info.usage.rpm_limit).toBe(1);
      expect((await keyInfo(created.token)).rpm_limit).toBe(1);
    });

    it("enforces a lowered rpm_limit on the very next call", async () => {
      const created = await createKey({ rpm_limit: 100 });
      await ok(await update({ key: created.key, rpm_limit: 1 }));
      expect((await chat(created.key)).status).toBe(200);
      await expectError(await chat(created.key), 429, { code: "rpm_limit_exceeded", type: "rate_limit_error" });
    });

    it("enforces a raised rpm_limit on the very next call", async () => {
      const created = await createKey({ rpm_limit: 1 });
      expect((await chat(created.key)).status).toBe(200);
      await expectError(await chat(created.key), 429, { code: "rpm_limit_exceeded" });
      await ok(await update({ key: created.key, rpm_limit: 2 }));
      expect((await chat(created.key)).status).toBe(200);
    });

    it("accepts the key by its token as well as its secret", async () => {
      const created = await createKey();
      const body = await ok(await update({ key: created.token, tpm_limit: 4321 }));
      expect(body.key).toBe(created.token);
      expect((await keyInfo(created.key)).tpm_limit).toBe(4321);
    });

    it("changes every LiteLLM field it is given", async () => {
      const created = await createKey();
      const changes = {
        key_alias: unique("alias"),
        team_id: unique("team"),
        user_id: unique("user"),
        models: ["gpt-4o"],
        metadata: { cost_center: 42 },
        max_budget: 7,
        soft_budget: 5,
        budget_duration: "7d",
        tpm_limit: 5000,
        rpm_limit: 50,
        max_parallel_requests: 2,
        model_tpm_limit: { "gpt-4o": 100 },
        model_rpm_limit: { "gpt-4o": 3 },
        model_max_budget: { "gpt-4o": { budget_limit: 1, time_period: "1d" } },
      };
      await ensureTeam(changes.team_id);
      const body = await ok(await update({ key: created.key, ...changes }));
      expect(body.info).toMatchObject(changes);
      expect(await keyInfo(created.token)).toMatchObject(changes);
    });

    it("leaves every setting it is not given unchanged", async () => {
      const settings = {
        key_alias: unique("alias"),
        team_id: unique("team"),
        user_id: unique("user"),
        models: ["gpt-4o-mini"],
        metadata: { owner: "ops" },
        max_budget: 9,
        soft_budget: 4,
        budget_duration: "30d",
        tpm_limit: 12_000,
        max_parallel_requests: 5,
        model_tpm_limit: { "gpt-4o-mini": 900 },
        model_rpm_limit: { "gpt-4o-mini": 8 },
        model_max_budget: { "gpt-4o-mini": { budget_limit: 2, time_period: "1d" } },
      };
      const created = await createKey({ ...settings, rpm_limit: 100, duration: "1d" });
      await ok(await update({ key: created.key, rpm_limit: 10 }));
      const after = await keyInfo(created.token);
      expect(after).toMatchObject({ ...settings, rpm_limit: 10, expires: created.expires });
    });

    it("keeps the key in its team's /key/list after an update of another field", async () => {
      const team = unique("team");
      const created = await createKey({ team_id: team });
      await ok(await update({ key: created.key, rpm_limit: 10 }));
      const listed = await ok(await call(`/key/list?team_id=${encodeURIComponent(team)}`));
      expect(listed.keys).toEqual([created.token]);
    });

    it("moves the key in /key/list when team_id changes", async () => {
      const [from, to] = [unique("team"), unique("team")];
      const created = await createKey({ team_id: from });
      await ensureTeam(to);
      await ok(await update({ key: created.key, team_id: to }));
      expect((await ok(await call(`/key/list?team_id=${encodeURIComponent(from)}`))).keys).toEqual([]);
      expect((await ok(await call(`/key/list?team_id=${encodeURIComponent(to)}`))).keys).toEqual([created.token]);
    });

    it("refuses to move a key into a team that does not exist", async () => {
      const created = await createKey();
      await expectError(await update({ key: created.key, team_id: unique("no-such-team") }), 400, { code: "team_not_found", param: "team_id" });
      expect((await keyInfo(created.token)).team_id).toBeNull();
    });

    it("restarts expires from now when duration is given", async () => {
      const created = await createKey({ duration: "1h" });
      const before = Date.now();
      const body = await ok(await update({ key: created.key, duration: "2d" }));
      const expires = Date.parse(body.info.expires);
      expect(expires).toBeGreaterThanOrEqual(before + 2 * DAY - 1000);
      expect(expires).toBeLessThanOrEqual(Date.now() + 2 * DAY + 1000);
      expect(body.info.expires).not.toBe(created.expires);
    });

    it("removes the expiry when duration is null", async () => {
      const created = await createKey({ duration: "1h" });
      expect(created.expires).not.toBeNull();
      const body = await ok(await update({ key: created.key, duration: null }));
      expect(body.info.expires).toBeNull();
    });

    it("keeps expires when duration is not given", async () => {
      const created = await createKey({ duration: "1h" });
      const body = await ok(await update({ key: created.key, tpm_limit: 10 }));
      expect(body.info.expires).toBe(created.expires);
    });

    it("revives an expired key when duration is extended", async () => {
      const created = await createKey({ duration: "1s" });
      await shiftClock(created.token, 5_000);
      await expectError(await chat(created.key), 401, { code: "key_expired" });
      await ok(await update({ key: created.key, duration: "1h" }));
      expect((await chat(created.key)).status).toBe(200);
    });

    it("lifts a limit when it is set to null", async () => {
      const created = await createKey({ rpm_limit: 1 });
      expect((await chat(created.key)).status).toBe(200);
      await expectError(await chat(created.key), 429, { code: "rpm_limit_exceeded" });
      const body = await ok(await update({ key: created.key, rpm_limit: null }));
      expect(body.info.rpm_limit).toBeNull();
      expect((await chat(created.key)).status).toBe(200);
    });
  });

  describe("errors and validation", () => {
    it("answers 404 for an unknown key, by secret or token", async () => {
      const secret = unknownSecret();
      await expectError(await update({ key: secret, rpm_limit: 1 }), 404, { code: "key_not_found", type: "not_found_error" });
      await expectError(await update({ key: await sha256(secret), rpm_limit: 1 }), 404, { code: "key_not_found" });
    });

    it.each([
      ["negative tpm_limit", { tpm_limit: -1 }, "tpm_limit"],
      ["fractional rpm_limit", { rpm_limit: 0.5 }, "rpm_limit"],
      ["string max_budget", { max_budget: "5" }, "max_budget"],
      ["invalid budget_duration", { budget_duration: "3x" }, "budget_duration"],
      ["invalid duration", { duration: "soon" }, "duration"],
    ])("rejects %s with 400 naming the field and changes nothing", async (_name, change, param) => {
      const created = await createKey({ tpm_limit: 100, rpm_limit: 10, max_budget: 1, budget_duration: "1d" });
      const error = await expectError(await update({ key: created.key, ...change }), 400, { code: "invalid_request", param });
      expect(error.message).toContain(param);
      const after = await keyInfo(created.token);
      expect(after).toMatchObject({ tpm_limit: 100, rpm_limit: 10, max_budget: 1, budget_duration: "1d", expires: null });
    });

    it("rejects an unknown field with 400 naming it", async () => {
      const created = await createKey();
      const error = await expectError(await update({ key: created.key, rpm_limitt: 5 }), 400, { code: "invalid_request" });
      expect(error.message).toContain("rpm_limitt");
    });

    it("rejects a body without key with 400 param key", async () => {
      await expectError(await update({ rpm_limit: 5 }), 400, { code: "invalid_request", param: "key" });
    });

    it("rejects a key reference that is neither a secret nor a token", async () => {
      await expectError(await update({ key: "my-key", rpm_limit: 5 }), 400, { code: "invalid_key_reference", param: "key" });
    });

    it("rejects malformed JSON and non-JSON bodies", async () => {
      await expectError(await call("/key/update", { rawBody: "{", headers: { "content-type": "application/json" } }), 400, { code: "invalid_json" });
      await expectError(await call("/key/update", { rawBody: "key=sk-x" }), 415, { code: "unsupported_media_type" });
    });
  });

  describe("security", () => {
    it("refuses a virtual key with 403 admin_only, even on itself, and changes nothing", async () => {
      const created = await createKey({ rpm_limit: 1 });
      const response = await update({ key: created.key, rpm_limit: 1_000_000 }, created.key);
      await expectError(response, 403, { code: "admin_only", type: "permission_error" });
      expect((await keyInfo(created.token)).rpm_limit).toBe(1);
    });

    it("refuses a wrong master key with 401 and changes nothing", async () => {
      const created = await createKey({ rpm_limit: 1 });
      await expectError(await update({ key: created.key, rpm_limit: 500 }, "sk-test-master-wrong"), 401, {
        code: "invalid_api_key",
        type: "authentication_error",
      });
      expect((await keyInfo(created.token)).rpm_limit).toBe(1);
    });

    it("does not unblock a blocked key when another field is updated", async () => {
      const created = await createKey();
      await ok(await call("/key/block", { body: { key: created.key } }));
      await ok(await update({ key: created.key, rpm_limit: 100 }));
      expect((await keyInfo(created.token)).blocked).toBe(true);
      await expectError(await chat(created.key), 403, { code: "key_blocked" });
    });

    it("does not widen a model allow-list when another field is updated", async () => {
      const created = await createKey({ models: ["gpt-4o"] });
      await ok(await update({ key: created.key, tpm_limit: 100_000 }));
      await expectError(await chat(created.key, { model: "gpt-4o-mini" }), 403, { code: "model_not_allowed" });
    });
  });
});
