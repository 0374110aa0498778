import { describe, expect, it } from "vitest";
import { call, chat, createKey, keyInfo } from "../../helpers/gateway";
import { expectError, ok, sha256, unique } from "../../helpers/key-routes";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function base64urlBytes(text: string): number {
  expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return atob(padded).length;
}

describe("POST /key/generate", () => {
  describe("happy path", () => {
    it("returns an sk- secret carrying at least 128 random bits", async () => {
      const { key } = await createKey();
      expect(key).toMatch(/^sk-[A-Za-z0-9_-]{22,}$/);
      expect(base64urlBytes(key.slice(3)) * 8).toBeGreaterThanOrEqual(128);
    });

    it("returns token = SHA-256 hex of the returned secret", async () => {
      const created = await createKey();
      expect(created.token).toMatch(/^[0-9a-f]{64}$/);
      expect(created.token).toBe(await sha256(created.key));
    });

    it("echoes LiteLLM defaults for every field left out", async () => {
      const before = Date.now();
      const created = await createKey();
      expect(created).toMatchObject({
        key_alias: null,
        team_id: null,
        user_id: null,
        models: [],
        metadata: {},
        tpm_limit: null,
        rpm_limit: null,
        max_parallel_requests: null,
        max_budget: null,
        soft_budget: null,
        budget_duration: null,
        model_tpm_limit: {},
        model_rpm_limit: {},
        model_max_budget: {},
        blocked: false,
        expires: null,
        budget_reset_at: null,
        spend: 0,
      });
      const createdAt = Date.parse(String(created.created_at));
      expect(createdAt).toBeGreaterThanOrEqual(before - 1000);
      expect(createdAt).toBeLessThanOrEqual(Date.now() + 1000);
    });

    it("echoes every LiteLLM field it was given", async () => {
      const settings = {
        key_alias: unique("alias"),
        team_id: unique("team"),
        user_id: unique("user"),
        models: ["gpt-4o-mini", "openai/*"],
        metadata: { owner: "billing", tags: ["a", "b"], nested: { n: 1 } },
        tpm_limit: 12_345,
        rpm_limit: 67,
        max_parallel_requests: 3,
        max_budget: 12.5,
        soft_budget: 10,
        budget_duration: "30d",
        model_tpm_limit: { "gpt-4o-mini": 1000 },
        model_rpm_limit: { "gpt-4o-mini": 7 },
        model_max_budget: { "gpt-4o-mini": { budget_limit: 2.5, time_period: "1d" } },
        blocked: true,
      };
      const created = await createKey(settings);
      expect(created).toMatchObject({ ...settings, spend: 0 });
      // And it is what got stored, not just what got echoed.
      expect(await keyInfo(created.token)).toMatchObject({ ...settings, spend: 0 });
    });

    it("masks the secret as key_name sk-...<last 4>", async () => {
      const created = await createKey();
      expect(created.key_name).toBe(`sk-...${created.key.slice(-4)}`);
    });

    it("sets expires one duration from now", async () => {
      const before = Date.now();
      const created = await createKey({ duration: "2h" });
      const expires = Date.parse(String(created.expires));
      expect(expires).toBeGreaterThanOrEqual(before + 2 * HOUR - 1000);
      expect(expires).toBeLessThanOrEqual(Date.now() + 2 * HOUR + 1000);
    });

    it("sets budget_reset_at one budget_duration from now when budget_duration is set", async () => {
      const before = Date.now();
      const created = await createKey({ max_budget: 1, budget_duration: "1d" });
      const resetAt = Date.parse(String(created.budget_reset_at));
      expect(resetAt).toBeGreaterThanOrEqual(before + DAY - 1000);
      expect(resetAt).toBeLessThanOrEqual(Date.now() + DAY + 1000);
    });

    it("generates a different secret and token every time", async () => {
      const [a, b] = await Promise.all([createKey(), createKey()]);
      expect(a.key).not.toBe(b.key);
      expect(a.token).not.toBe(b.token);
    });

    it("issues a key that works on the proxy right away", async () => {
      const created = await createKey({ rpm_limit: 5 });
      expect((await chat(created.key)).status).toBe(200);
    });

    it("accepts a caller-chosen key and hashes that one", async () => {
      const chosen = `sk-custom-${crypto.randomUUID().replace(/-/g, "")}`;
      const created = await createKey({ key: chosen });
      expect(created.key).toBe(chosen);
      expect(created.token).toBe(await sha256(chosen));
      expect(created.key_name).toBe(`sk-...${chosen.slice(-4)}`);
      expect((await chat(chosen)).status).toBe(200);
    });
  });

  describe("errors and validation", () => {
    it("rejects a duplicate caller-chosen key with 400 and keeps the first key's settings", async () => {
      const chosen = `sk-dup-${crypto.randomUUID().replace(/-/g, "")}`;
      const first = await createKey({ key: chosen, rpm_limit: 3, team_id: unique("team") });
      const response = await call("/key/generate", { body: { key: chosen, rpm_limit: 1000 } });
      await expectError(response, 400, { code: "key_exists", type: "invalid_request_error", param: "key" });
      const info = await keyInfo(first.token);
      expect(info.rpm_limit).toBe(3);
      expect(info.team_id).toBe(first.team_id);
    });

    it("rejects a caller-chosen key that is not sk- plus 20+ URL-safe characters", async () => {
      for (const key of ["sk-short", "pk-" + "a".repeat(30), "sk-" + "a".repeat(20) + "!", ""]) {
        await expectError(await call("/key/generate", { body: { key } }), 400, { code: "invalid_request", param: "key" });
      }
    });

    it.each([
      ["negative tpm_limit", { tpm_limit: -1 }, "tpm_limit"],
      ["fractional rpm_limit", { rpm_limit: 1.5 }, "rpm_limit"],
      ["string max_budget", { max_budget: "10" }, "max_budget"],
      ["invalid budget_duration", { budget_duration: "3x" }, "budget_duration"],
      ["invalid duration", { duration: "forever" }, "duration"],
      ["negative max_parallel_requests", { max_parallel_requests: -2 }, "max_parallel_requests"],
      ["non-array models", { models: "gpt-4o" }, "models"],
      ["non-boolean blocked", { blocked: "yes" }, "blocked"],
      ["negative model_tpm_limit", { model_tpm_limit: { "gpt-4o": -5 } }, "model_tpm_limit.gpt-4o"],
      ["model_max_budget without budget_limit", { model_max_budget: { "gpt-4o": { time_period: "1d" } } }, "model_max_budget.gpt-4o.budget_limit"],
    ])("rejects %s with a 400 naming the field", async (_name, body, param) => {
      const error = await expectError(await call("/key/generate", { body }), 400, {
        code: "invalid_request",
        type: "invalid_request_error",
        param,
      });
      expect(error.message).toContain(param.split(".")[0]!);
    });

    it("rejects an unknown field with a 400 naming it", async () => {
      const error = await expectError(await call("/key/generate", { body: { rpm_limit: 5, tpm_limt: 10 } }), 400, {
        code: "invalid_request",
        type: "invalid_request_error",
      });
      expect(error.message).toContain("tpm_limt");
    });

    it("rejects malformed JSON with 400 invalid_json", async () => {
      const response = await call("/key/generate", { rawBody: '{"rpm_limit": 5', headers: { "content-type": "application/json" } });
      await expectError(response, 400, { code: "invalid_json", type: "invalid_request_error" });
    });

    it("rejects a non-JSON content type with 415", async () => {
      const response = await call("/key/generate", { rawBody: "rpm_limit=5", headers: { "content-type": "application/x-www-form-urlencoded" } });
      await expectError(response, 415, { code: "unsupported_media_type", type: "invalid_request_error" });
    });

    it("rejects a request without content type with 415", async () => {
      await expectError(await call("/key/generate", { rawBody: "{}" }), 415, { code: "unsupported_media_type" });
    });

    it("rejects an empty body with 400 invalid_json", async () => {
      const response = await call("/key/generate", { rawBody: "", headers: { "content-type": "application/json" } });
      await expectError(response, 400, { code: "invalid_json" });
    });

    it("rejects a body over the size limit with 413", async () => {
      const huge = JSON.stringify({ metadata: { blob: "x".repeat(4 * 1024 * 1024) } });
      const response = await call("/key/generate", { rawBody: huge, headers: { "content-type": "application/json" } });
      await expectError(response, 413, { code: "request_too_large", type: "invalid_request_error" });
    });

    it("rejects a JSON body that is not an object", async () => {
      for (const body of [[], null, "sk-x", 42]) {
        await expectError(await call("/key/generate", { body }), 400, { code: "invalid_request" });
      }
    });

    it("creates nothing when the request is invalid", async () => {
      const team = unique("team");
      await expectError(await call("/key/generate", { body: { team_id: team, rpm_limit: -1 } }), 400);
      const listed = await ok(await call(`/key/list?team_id=${encodeURIComponent(team)}`));
      expect(listed.total_count).toBe(0);
      expect(listed.keys).toEqual([]);
    });
  });

  describe("security", () => {
    it("refuses a virtual key with 403 admin_only and creates nothing", async () => {
      const virtual = await createKey();
      const team = unique("team");
      const response = await call("/key/generate", { token: virtual.key, body: { team_id: team } });
      await expectError(response, 403, { code: "admin_only", type: "permission_error" });
      expect((await ok(await call(`/key/list?team_id=${encodeURIComponent(team)}`))).total_count).toBe(0);
    });

    it("refuses a request without credentials with 401", async () => {
      await expectError(await call("/key/generate", { token: null, body: {} }), 401, { code: "invalid_api_key", type: "authentication_error" });
    });

    it("never returns the secret again after generation", async () => {
      const created = await createKey({ team_id: unique("team") });
      const info = await call(`/key/info?key=${encodeURIComponent(created.key)}`);
      const text = await info.text();
      expect(info.status).toBe(200);
      expect(text).not.toContain(created.key.slice(3));
    });
  });
});
