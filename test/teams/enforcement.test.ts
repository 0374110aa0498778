import { describe, expect, it } from "vitest";
import { chatPrompt } from "../helpers/default-request";
import { call, chat, createKey, ensureTeam, json, keyInfo, settled } from "../helpers/gateway";

const MESSAGES = [{ role: "user", content: "hello" }];
const MAX_TOKENS = 10;
/** What admission reserves for chat(key) with its defaults (the helper's messages and max_tokens). */
const ESTIMATE = (await chatPrompt(MESSAGES)) + MAX_TOKENS;

/** Own limits generous enough that only the team can be what refuses. */
const ROOMY_KEY = { rpm_limit: 10_000, tpm_limit: 10_000_000, max_parallel_requests: 1_000, max_budget: 1_000 };

async function teamInfo(teamId: string): Promise<Record<string, any>> {
  const response = await call(`/team/info?team_id=${encodeURIComponent(teamId)}`);
  expect(response.status).toBe(200);
  return (await json(response)).team_info;
}

async function teamKey(teamId: string, settings: Record<string, unknown>) {
  await ensureTeam(teamId, settings);
  return createKey({ team_id: teamId, ...ROOMY_KEY });
}

/** The key's counters must be exactly what they were before the refused call: it was withdrawn, not released. */
async function expectWithdrawn(key: string, before: Record<string, any>) {
  const after = await keyInfo(key);
  expect(after.usage.requests).toBe(before.usage.requests);
  expect(after.usage.tokens).toBe(before.usage.tokens);
  expect(after.usage.in_flight).toBe(0);
  expect(after.usage.reserved_tokens).toBe(0);
  expect(after.usage.reserved_spend).toBe(0);
  expect(after.spend).toBe(before.spend);
}

async function expectTeamRefusal(response: Response, code: string, name: string) {
  expect(response.status).toBe(429);
  const { error } = await json(response);
  expect(error.code).toBe(code);
  expect(error.limit.scope).toBe("team");
  expect(error.limit.name).toBe(name);
  return error;
}

describe("a team's limits bind its keys even when the key's own limits allow the call", () => {
  it("rpm_limit", async () => {
    const key = await teamKey("team-rpm", { rpm_limit: 2 });
    expect((await chat(key.key)).status).toBe(200);
    expect((await chat(key.key)).status).toBe(200);
    const before = await settled(key.key);
    const refused = await chat(key.key);
    const error = await expectTeamRefusal(refused, "rpm_limit_exceeded", "rpm_limit");
    expect(error.limit).toMatchObject({ limit: 2, remaining: 0, requested: 1 });
    expect(Number(refused.headers.get("retry-after-ms"))).toBeGreaterThan(0);
    await expectWithdrawn(key.key, before);
    expect(before.usage.requests).toBe(2);
    expect((await teamInfo("team-rpm")).usage).toMatchObject({ requests: 2, in_flight: 0 });
  });

  it("tpm_limit", async () => {
    // Room for exactly one reservation; the settled first call leaves less than one estimate.
    const key = await teamKey("team-tpm", { tpm_limit: ESTIMATE });
    expect((await chat(key.key)).status).toBe(200);
    const before = await settled(key.key);
    const refused = await chat(key.key);
    const error = await expectTeamRefusal(refused, "tpm_limit_exceeded", "tpm_limit");
    expect(error.limit).toMatchObject({ limit: ESTIMATE, requested: ESTIMATE });
    await expectWithdrawn(key.key, before);
    const team = await teamInfo("team-tpm");
    expect(team.usage.tokens).toBe(before.usage.tokens);
    expect(team.usage.requests).toBe(1);
  });

  it("max_budget", async () => {
    const key = await teamKey("team-budget", {});
    expect((await chat(key.key, { max_tokens: 2_000 })).status).toBe(200);
    const before = await settled(key.key);
    // The team may spend exactly what it has spent: a small call no longer fits.
    const update = await call("/team/update", { body: { team_id: "team-budget", max_budget: before.spend } });
    expect(update.status).toBe(200);
    const refused = await chat(key.key);
    expect(refused.status).toBe(429);
    const { error } = await json(refused);
    expect(error).toMatchObject({ type: "budget_exceeded", code: "budget_exceeded" });
    expect(error.limit).toMatchObject({ scope: "team", name: "max_budget", limit: before.spend });
    await expectWithdrawn(key.key, before);
    const team = await teamInfo("team-budget");
    expect(team.spend).toBe(before.spend);
    expect(team.usage.reserved_spend).toBe(0);
  });

  it("max_parallel_requests", async () => {
    await ensureTeam("team-parallel", { max_parallel_requests: 2 });
    const busy = await createKey({ team_id: "team-parallel", ...ROOMY_KEY });
    const key = await createKey({ team_id: "team-parallel", ...ROOMY_KEY });
    const slow = [chat(busy.key, {}, { "x-mock-latency-ms": "1500" }), chat(busy.key, {}, { "x-mock-latency-ms": "1500" })];
    const deadline = Date.now() + 1000;
    while ((await teamInfo("team-parallel")).usage.in_flight < 2) {
      if (Date.now() > deadline) throw new Error("the slow calls never got in flight");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const before = await keyInfo(key.key);
    const refused = await chat(key.key);
    const error = await expectTeamRefusal(refused, "max_parallel_requests_exceeded", "max_parallel_requests");
    expect(error.limit).toMatchObject({ limit: 2, remaining: 0 });
    // Checked while the team is still full: nothing of the refused call is held at the key.
    await expectWithdrawn(key.key, before);
    expect(before.usage.requests).toBe(0);
    expect((await Promise.all(slow)).map((response) => response.status)).toEqual([200, 200]);
    await settled(busy.key);
    expect((await chat(key.key)).status).toBe(200);
    expect((await settled(key.key)).usage.requests).toBe(1);
  });

  it("the key's own limits still apply first (scope key, team untouched)", async () => {
    await ensureTeam("team-loose", { rpm_limit: 100 });
    const key = await createKey({ team_id: "team-loose", rpm_limit: 1 });
    expect((await chat(key.key)).status).toBe(200);
    const refused = await chat(key.key);
    expect(refused.status).toBe(429);
    expect((await json(refused)).error.limit.scope).toBe("key");
    await settled(key.key);
    expect((await teamInfo("team-loose")).usage.requests).toBe(1);
  });

  it("is shared: one key's usage counts against its teammates", async () => {
    await ensureTeam("team-shared-rpm", { rpm_limit: 3 });
    const keys = await Promise.all([0, 1, 2].map(() => createKey({ team_id: "team-shared-rpm", ...ROOMY_KEY })));
    for (const key of keys) expect((await chat(key.key)).status).toBe(200);
    const before = await Promise.all(keys.map((key) => settled(key.key)));
    for (const [index, key] of keys.entries()) {
      await expectTeamRefusal(await chat(key.key), "rpm_limit_exceeded", "rpm_limit");
      await expectWithdrawn(key.key, before[index]!);
    }
  });
});

describe("team refusals that are not limits", () => {
  it("a blocked team refuses its keys with 403 team_blocked, and unblocking lets them through", async () => {
    const key = await teamKey("team-blocked", {});
    expect((await chat(key.key)).status).toBe(200);
    const before = await settled(key.key);
    expect((await call("/team/update", { body: { team_id: "team-blocked", blocked: true } })).status).toBe(200);
    const refused = await chat(key.key);
    expect(refused.status).toBe(403);
    expect((await json(refused)).error).toMatchObject({ code: "team_blocked", type: "permission_error" });
    await expectWithdrawn(key.key, before);
    expect((await teamInfo("team-blocked")).usage.requests).toBe(1);
    expect((await call("/team/update", { body: { team_id: "team-blocked", blocked: false } })).status).toBe(200);
    expect((await chat(key.key)).status).toBe(200);
  });

  it("the team's model allow-list applies to keys that allow every model", async () => {
    const key = await teamKey("team-models", { models: ["gpt-4o"] });
    expect((await keyInfo(key.key)).models).toEqual([]);
    const before = await keyInfo(key.key);
    const refused = await chat(key.key, { model: "gpt-4o-mini" });
    expect(refused.status).toBe(403);
    expect((await json(refused)).error).toMatchObject({ code: "team_model_not_allowed", type: "permission_error" });
    await expectWithdrawn(key.key, before);
    expect((await chat(key.key, { model: "gpt-4o" })).status).toBe(200);
    expect((await settled(key.key)).usage.requests).toBe(1);
  });
});
