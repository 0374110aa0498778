import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, chat, createKey, keyInfo, settled } from "../../helpers/gateway";
import { expectError, ok, settingsOf, unique } from "../../helpers/key-routes";

/** Tears down the key's object instance; only its durable storage survives. */
async function evictKey(token: string): Promise<void> {
  await evictDurableObject(env.KEYS.get(env.KEYS.idFromName(token)));
}

async function evictIndex(): Promise<void> {
  await evictDurableObject(env.DIRECTORY.get(env.DIRECTORY.idFromName("directory")));
}

const SETTINGS = {
  key_alias: "persisted",
  models: ["gpt-4o-mini"],
  metadata: { survives: true },
  max_budget: 5,
  soft_budget: 1,
  budget_duration: "30d",
  tpm_limit: 50_000,
  rpm_limit: 40,
  max_parallel_requests: 4,
  model_tpm_limit: { "gpt-4o-mini": 40_000 },
  model_rpm_limit: { "gpt-4o-mini": 30 },
  model_max_budget: { "gpt-4o-mini": { budget_limit: 4, time_period: "1d" } },
  duration: "30d",
};

describe("key state across Durable Object eviction", () => {
  it("keeps settings, spend and usage, and the key still works", async () => {
    const created = await createKey({ ...SETTINGS, team_id: unique("team") });
    expect((await chat(created.key, {}, { "x-mock-response-cost": "0.125" })).status).toBe(200);
    const before = await settled(created.key);
    expect(before.spend).toBe(0.125);

    await evictKey(created.token);

    const after = await keyInfo(created.token);
    expect(settingsOf(after)).toEqual(settingsOf(before));
    expect(after.spend).toBe(before.spend);
    expect(after.budget_reset_at).toBe(before.budget_reset_at);
    expect(after.usage).toMatchObject({ requests: before.usage.requests, tokens: before.usage.tokens, in_flight: 0 });
    expect(after.usage.models["gpt-4o-mini"]).toMatchObject({ spend: before.usage.models["gpt-4o-mini"].spend });
    expect((await chat(created.key)).status).toBe(200);
  });

  it("keeps enforcing the rpm window", async () => {
    const created = await createKey({ rpm_limit: 1 });
    expect((await chat(created.key)).status).toBe(200);
    await settled(created.key);
    await evictKey(created.token);
    await expectError(await chat(created.key), 429, { code: "rpm_limit_exceeded" });
  });

  it("keeps an exhausted budget exhausted", async () => {
    const created = await createKey({ max_budget: 0.1 });
    expect((await chat(created.key, {}, { "x-mock-response-cost": "0.1" })).status).toBe(200);
    await settled(created.key);
    await evictKey(created.token);
    await expectError(await chat(created.key), 429, { type: "budget_exceeded", code: "budget_exceeded" });
  });

  it("keeps an update", async () => {
    const created = await createKey({ rpm_limit: 100 });
    await ok(await call("/key/update", { body: { key: created.key, rpm_limit: 2, tpm_limit: 3000 } }));
    await evictKey(created.token);
    expect(await keyInfo(created.token)).toMatchObject({ rpm_limit: 2, tpm_limit: 3000 });
  });

  it("keeps a block", async () => {
    const created = await createKey();
    await ok(await call("/key/block", { body: { key: created.key } }));
    await evictKey(created.token);
    await expectError(await chat(created.key), 403, { code: "key_blocked" });
  });

  it("keeps a deletion", async () => {
    const created = await createKey();
    await ok(await call("/key/delete", { body: { keys: [created.key] } }));
    await evictKey(created.token);
    await expectError(await chat(created.key), 401, { code: "invalid_api_key" });
    await expectError(await call(`/key/info?key=${created.token}`), 404, { code: "key_not_found" });
  });

  it("keeps a regeneration: old secret refused, new one carries spend", async () => {
    const created = await createKey({ max_budget: 1 });
    expect((await chat(created.key, {}, { "x-mock-response-cost": "0.2" })).status).toBe(200);
    await settled(created.key);
    const regenerated = await ok(await call("/key/regenerate", { body: { key: created.key } }));
    await evictKey(created.token);
    await evictKey(regenerated.token);
    await expectError(await chat(created.key), 401, { code: "invalid_api_key" });
    expect((await keyInfo(regenerated.token)).spend).toBe(0.2);
    expect((await chat(regenerated.key)).status).toBe(200);
  });

  it("keeps the key directory behind /key/list", async () => {
    const team = unique("team");
    const created = await createKey({ team_id: team });
    await evictIndex();
    const listed = await ok(await call(`/key/list?team_id=${encodeURIComponent(team)}`));
    expect(listed.keys).toEqual([created.token]);
  });
});
