import { describe, expect, it } from "vitest";
import { call, chat, createKey, json, settled } from "../../helpers/gateway";
import { expectError, ok, sha256, unique, unknownSecret } from "../../helpers/key-routes";

const info = (ref: string | null, token?: string | null) =>
  call(ref === null ? "/key/info" : `/key/info?key=${encodeURIComponent(ref)}`, token === undefined ? {} : { token });

describe("GET /key/info", () => {
  describe("happy path", () => {
    it("lets the master key read a key by its secret, answering {key: token, info}", async () => {
      const created = await createKey({ rpm_limit: 9, team_id: unique("team") });
      const body = await ok(await info(created.key));
      expect(Object.keys(body).sort()).toEqual(["info", "key"]);
      expect(body.key).toBe(await sha256(created.key));
      expect(body.info).toMatchObject({ token: created.token, rpm_limit: 9, team_id: created.team_id, key_name: created.key_name });
    });

    it("lets the master key read a key by its token", async () => {
      const created = await createKey({ tpm_limit: 777 });
      const body = await ok(await info(created.token));
      expect(body.key).toBe(created.token);
      expect(body.info.tpm_limit).toBe(777);
    });

    it("answers the same info by secret and by token", async () => {
      const created = await createKey({ max_budget: 3, key_alias: unique("alias") });
      const [bySecret, byToken] = await Promise.all([ok(await info(created.key)), ok(await info(created.token))]);
      const strip = (b: Record<string, any>) => ({ ...b.info, usage: { ...b.info.usage, tokens_reset_ms: 0, requests_reset_ms: 0 } });
      expect(strip(bySecret)).toEqual(strip(byToken));
    });

    it("includes every stored field plus spend, budget_reset_at, created_at", async () => {
      const created = await createKey({ max_budget: 2, budget_duration: "1d" });
      const { info: body } = await ok(await info(created.token));
      for (const field of [
        "key_alias", "models", "team_id", "user_id", "metadata", "max_budget", "soft_budget", "budget_duration",
        "tpm_limit", "rpm_limit", "max_parallel_requests", "model_tpm_limit", "model_rpm_limit", "model_max_budget",
        "blocked", "expires", "spend", "budget_reset_at", "created_at", "token", "key_name",
      ]) {
        expect(body, field).toHaveProperty(field);
      }
      expect(body.spend).toBe(0);
      expect(body.budget_reset_at).toBe(created.budget_reset_at);
    });

    it("reports live usage counters in a usage object", async () => {
      const created = await createKey({ tpm_limit: 10_000, rpm_limit: 50, max_parallel_requests: 4, max_budget: 1 });
      const fresh = (await ok(await info(created.token))).info;
      expect(fresh.usage).toMatchObject({
        window_seconds: 60,
        tokens: 0,
        requests: 0,
        in_flight: 0,
        reserved_tokens: 0,
        reserved_spend: 0,
        tpm_limit: 10_000,
        rpm_limit: 50,
        max_parallel_requests: 4,
        models: {},
      });
      expect(typeof fresh.usage.tokens_reset_ms).toBe("number");
      expect(typeof fresh.usage.requests_reset_ms).toBe("number");

      const response = await chat(created.key);
      expect(response.status).toBe(200);
      const usage = (await json(response)).usage;
      const after = await settled(created.key);
      expect(after.usage.requests).toBe(1);
      expect(after.usage.tokens).toBe(usage.total_tokens);
      expect(after.usage.reserved_tokens).toBe(0);
      expect(after.usage.reserved_spend).toBe(0);
      expect(after.spend).toBeGreaterThan(0);
    });

    it("reports per-model usage for keys with per-model limits", async () => {
      const created = await createKey({ model_rpm_limit: { "gpt-4o-mini": 5 } });
      expect((await chat(created.key)).status).toBe(200);
      const after = await settled(created.key);
      expect(after.usage.models["gpt-4o-mini"]).toMatchObject({ window: { requests: 1, rpm_limit: 5 } });
    });

    it("lets a virtual key read itself without ?key=", async () => {
      const created = await createKey({ rpm_limit: 11 });
      const body = await ok(await info(null, created.key));
      expect(body.key).toBe(created.token);
      expect(body.info.rpm_limit).toBe(11);
    });

    it("lets a virtual key read itself with ?key= its own secret or token", async () => {
      const created = await createKey({ rpm_limit: 12 });
      for (const ref of [created.key, created.token]) {
        const body = await ok(await info(ref, created.key));
        expect(body.key).toBe(created.token);
        expect(body.info.rpm_limit).toBe(12);
      }
    });
  });

  describe("errors", () => {
    it("answers 404 key_not_found to the master key for an unknown secret or token", async () => {
      const secret = unknownSecret();
      await expectError(await info(secret), 404, { code: "key_not_found", type: "not_found_error" });
      await expectError(await info(await sha256(secret)), 404, { code: "key_not_found" });
    });

    it("answers 400 when the master key omits ?key=", async () => {
      await expectError(await info(null), 400, { code: "missing_key", param: "key", type: "invalid_request_error" });
    });

    it("answers 400 when ?key= is neither a secret nor a token", async () => {
      await expectError(await info("not-a-key"), 400, { param: "key" });
      await expectError(await info("ABCDEF".repeat(10) + "ABCD"), 400, { param: "key" });
    });

    it("answers 400 to an unknown query parameter", async () => {
      const created = await createKey();
      await expectError(await call(`/key/info?key=${created.token}&verbose=1`), 400, { type: "invalid_request_error" });
    });
  });

  describe("security", () => {
    it("never includes the secret anywhere in the response", async () => {
      const created = await createKey({ metadata: { note: "x" }, max_budget: 1, rpm_limit: 3 });
      expect((await chat(created.key)).status).toBe(200);
      await settled(created.key);
      for (const [ref, token] of [[created.key, undefined], [created.token, undefined], [null, created.key]] as const) {
        const response = await info(ref, token);
        const text = await response.text();
        expect(response.status).toBe(200);
        expect(text).not.toContain(created.key);
        expect(text).not.toContain(created.key.slice(3));
        expect(text).not.toContain(created.key.slice(3, 19));
      }
    });

    it("refuses 403 when a virtual key asks about another key, by secret or token", async () => {
      const [mine, other] = await Promise.all([createKey(), createKey({ rpm_limit: 99 })]);
      for (const ref of [other.key, other.token]) {
        const response = await info(ref, mine.key);
        const text = await response.clone().text();
        await expectError(response, 403, { code: "not_own_key", type: "permission_error" });
        expect(text).not.toContain(other.token);
        expect(text).not.toContain("99");
      }
    });

    it("refuses 403 (not 404) when a virtual key asks about a key that does not exist", async () => {
      const mine = await createKey();
      await expectError(await info(unknownSecret(), mine.key), 403, { code: "not_own_key" });
    });

    it("answers 401 to an unknown key used as the bearer", async () => {
      await expectError(await info(null, unknownSecret()), 401, { code: "invalid_api_key", type: "authentication_error" });
      const other = await createKey();
      await expectError(await info(other.token, unknownSecret()), 401, { code: "invalid_api_key" });
    });

    it("answers 401 when a key's token (not its secret) is used as the bearer", async () => {
      const created = await createKey();
      await expectError(await info(null, created.token), 401, { code: "invalid_api_key" });
    });

    it("answers 401 without credentials", async () => {
      const created = await createKey();
      await expectError(await info(created.token, null), 401, { code: "invalid_api_key" });
    });
  });
});
