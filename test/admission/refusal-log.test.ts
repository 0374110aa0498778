import { describe, expect, it } from "vitest";
import { call, chat, createKey, ensureTeam, json, keyInfo } from "../helpers/gateway";
import { unique } from "../helpers/key-routes";

// Refused calls never reach the spend log; each owner counts them by reason so operators see who is refused and why.

describe("refusals by reason", () => {
  it("a key counts its own limit refusals and its rule refusals", async () => {
    const key = await createKey({ rpm_limit: 1, models: ["gpt-4o-mini"] });
    expect((await chat(key.key)).status).toBe(200);
    expect((await chat(key.key)).status).toBe(429);
    expect((await chat(key.key)).status).toBe(429);
    expect((await chat(key.key, { model: "gpt-4o" })).status).toBe(403);
    const { refusals } = (await keyInfo(key.key)).usage;
    expect(refusals["key:rpm_limit"]).toMatchObject({ count: 2 });
    expect(refusals["model_not_allowed"]).toMatchObject({ count: 1 });
    expect(Date.parse(refusals["key:rpm_limit"].last_at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("a key counts the refusals of later owners (its team) that withdrew its reservation", async () => {
    const teamId = unique("refusing-team");
    await ensureTeam(teamId, { rpm_limit: 1 });
    const key = await createKey({ team_id: teamId });
    expect((await chat(key.key)).status).toBe(200);
    expect((await chat(key.key)).status).toBe(429);
    expect((await keyInfo(key.key)).usage.refusals["team:rpm_limit"]).toMatchObject({ count: 1 });
    const team = await json(await call(`/team/info?team_id=${teamId}`));
    expect(team.team_info.usage.refusals["team:rpm_limit"]).toMatchObject({ count: 1 });
  });

  it("a key that was never refused shows none", async () => {
    const key = await createKey();
    expect((await chat(key.key)).status).toBe(200);
    expect((await keyInfo(key.key)).usage.refusals).toEqual({});
  });
});
