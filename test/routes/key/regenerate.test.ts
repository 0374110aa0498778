import { describe, expect, it } from "vitest";
import { call, chat, createKey, json, keyInfo, settled } from "../../helpers/gateway";
import { expectError, ok, settingsOf, sha256, sleep, unique, unknownSecret } from "../../helpers/key-routes";

const regenerate = (key: string, token?: string) =>
  call("/key/regenerate", token === undefined ? { body: { key } } : { body: { key }, token });

describe("POST /key/regenerate", () => {
  describe("happy path", () => {
    it("returns a new random secret whose token is its SHA-256, with a matching key_name", async () => {
      const created = await createKey();
      const body = await ok(await regenerate(created.key));
      expect(body.key).toMatch(/^sk-[A-Za-z0-9_-]{22,}$/);
      expect(body.key).not.toBe(created.key);
      expect(body.token).toBe(await sha256(body.key));
      expect(body.token).not.toBe(created.token);
      expect(body.key_name).toBe(`sk-...${body.key.slice(-4)}`);
      expect(body).not.toHaveProperty("usage");
    });

    it("makes the new secret work on chat", async () => {
      const created = await createKey();
      const { key } = await ok(await regenerate(created.key));
      expect((await chat(key)).status).toBe(200);
    });

    it("makes the old secret get 401 on chat immediately", async () => {
      const created = await createKey();
      expect((await chat(created.key)).status).toBe(200);
      await ok(await regenerate(created.key));
      await expectError(await chat(created.key), 401, { code: "invalid_api_key", type: "authentication_error" });
    });

    it("makes the old secret get 401 on /key/info and the old token 404 for the master key", async () => {
      const created = await createKey();
      await ok(await regenerate(created.key));
      await expectError(await call("/key/info", { token: created.key }), 401, { code: "invalid_api_key" });
      await expectError(await call(`/key/info?key=${created.token}`), 404, { code: "key_not_found" });
    });

    it("accepts the key by token", async () => {
      const created = await createKey();
      const body = await ok(await regenerate(created.token));
      expect((await chat(body.key)).status).toBe(200);
      await expectError(await chat(created.key), 401, { code: "invalid_api_key" });
    });

    it("carries every setting over", async () => {
      const created = await createKey({
        key_alias: unique("alias"),
        team_id: unique("team"),
        user_id: unique("user"),
        models: ["gpt-4o-mini"],
        metadata: { owner: "ml" },
        max_budget: 4,
        soft_budget: 2,
        budget_duration: "30d",
        tpm_limit: 9999,
        rpm_limit: 99,
        max_parallel_requests: 9,
        model_tpm_limit: { "gpt-4o-mini": 999 },
        model_rpm_limit: { "gpt-4o-mini": 19 },
        model_max_budget: { "gpt-4o-mini": { budget_limit: 1, time_period: "1d" } },
        duration: "7d",
      });
      const before = await keyInfo(created.token);
      const body = await ok(await regenerate(created.key));
      expect(settingsOf(body)).toEqual(settingsOf(before));
      expect(settingsOf(await keyInfo(body.token))).toEqual(settingsOf(before));
    });

    it("carries spend and window usage over", async () => {
      const created = await createKey({ max_budget: 5, tpm_limit: 100_000 });
      const response = await chat(created.key, {}, { "x-mock-response-cost": "0.25" });
      expect(response.status).toBe(200);
      const used = (await json(response)).usage.total_tokens as number;
      const before = await settled(created.key);
      expect(before.spend).toBe(0.25);
      const body = await ok(await regenerate(created.key));
      expect(body.spend).toBe(0.25);
      const after = await keyInfo(body.token);
      expect(after.spend).toBe(before.spend);
      expect(after.usage).toMatchObject({ requests: 1, tokens: used });
    });

    it("keeps enforcing the same rpm window under the new secret", async () => {
      const created = await createKey({ rpm_limit: 1 });
      expect((await chat(created.key)).status).toBe(200);
      const { key } = await ok(await regenerate(created.key));
      await expectError(await chat(key), 429, { code: "rpm_limit_exceeded" });
    });

    it("keeps the key blocked", async () => {
      const created = await createKey();
      await ok(await call("/key/block", { body: { key: created.key } }));
      const { key } = await ok(await regenerate(created.key));
      await expectError(await chat(key), 403, { code: "key_blocked" });
    });

    it("lists the new token and no longer the old one", async () => {
      const team = unique("team");
      const created = await createKey({ team_id: team });
      const body = await ok(await regenerate(created.key));
      const listed = await ok(await call(`/key/list?team_id=${encodeURIComponent(team)}`));
      expect(listed.keys).toEqual([body.token]);
      expect(listed.total_count).toBe(1);
    });

    it("settles a call admitted under the old secret onto the new key", async () => {
      const created = await createKey({ max_budget: 5 });
      const pending = chat(created.key, {}, { "x-mock-latency-ms": "300", "x-mock-response-cost": "0.5" });
      const deadline = Date.now() + 2000;
      while ((await keyInfo(created.token)).usage.in_flight === 0) {
        if (Date.now() > deadline) throw new Error("call never became in flight");
        await sleep(5);
      }
      const body = await ok(await regenerate(created.key));
      expect((await pending).status).toBe(200);
      const after = await settled(body.key);
      expect(after.usage.in_flight).toBe(0);
      expect(after.usage.reserved_spend).toBe(0);
      expect(after.spend).toBe(0.5);
    });

    it("can be regenerated again, each time retiring the previous secret", async () => {
      const created = await createKey();
      const second = await ok(await regenerate(created.key));
      const third = await ok(await regenerate(second.key));
      await expectError(await chat(second.key), 401, { code: "invalid_api_key" });
      expect((await chat(third.key)).status).toBe(200);
    });
  });

  describe("errors", () => {
    it("answers 404 for an unknown key", async () => {
      await expectError(await regenerate(unknownSecret()), 404, { code: "key_not_found", type: "not_found_error" });
    });

    it("answers 404 when the old secret is regenerated a second time", async () => {
      const created = await createKey();
      await ok(await regenerate(created.key));
      await expectError(await regenerate(created.key), 404, { code: "key_not_found" });
    });

    it("lets exactly one of two concurrent regenerations win", async () => {
      const created = await createKey();
      const responses = await Promise.all([regenerate(created.key), regenerate(created.key)]);
      expect(responses.map((response) => response.status).sort()).toEqual([200, 404]);
    });

    it("rejects a body without key with 400", async () => {
      await expectError(await call("/key/regenerate", { body: {} }), 400, { code: "invalid_request", param: "key" });
    });
  });

  describe("security", () => {
    it("refuses a virtual key regenerating itself with 403 admin_only, keeping its secret valid", async () => {
      const created = await createKey();
      await expectError(await regenerate(created.key, created.key), 403, { code: "admin_only", type: "permission_error" });
      expect((await chat(created.key)).status).toBe(200);
    });

    it("refuses a wrong master key with 401", async () => {
      const created = await createKey();
      await expectError(await regenerate(created.key, unknownSecret()), 401, { code: "invalid_api_key" });
      expect((await chat(created.key)).status).toBe(200);
    });
  });
});
