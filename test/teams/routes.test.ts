import { describe, expect, it } from "vitest";
import { call, chat, createKey, json, keyInfo, settled } from "../helpers/gateway";

const newTeam = (body: Record<string, unknown>, token?: string | null) => call("/team/new", { body, ...(token === undefined ? {} : { token }) });
const teamInfo = (teamId: string) => call(`/team/info?team_id=${encodeURIComponent(teamId)}`);
const updateTeam = (body: Record<string, unknown>) => call("/team/update", { body });
const deleteTeams = (teamIds: string[]) => call("/team/delete", { body: { team_ids: teamIds } });

const LITELLM_FIELDS = {
  team_alias: "Research",
  models: ["gpt-4o-mini", "openai/*"],
  metadata: { cost_center: "R&D", owners: ["ada"] },
  max_budget: 12.5,
  soft_budget: 10,
  budget_duration: "30d",
  tpm_limit: 50_000,
  rpm_limit: 120,
  max_parallel_requests: 7,
  blocked: false,
};

describe("/team/new", () => {
  it("creates a team with a generated team_id and LiteLLM's defaults", async () => {
    const response = await newTeam({});
    expect(response.status).toBe(200);
    const team = await json(response);
    expect(team.team_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(team).toMatchObject({
      team_alias: null, models: [], metadata: {}, max_budget: null, soft_budget: null, budget_duration: null,
      tpm_limit: null, rpm_limit: null, max_parallel_requests: null, blocked: false, spend: 0,
    });
    expect(team.usage).toMatchObject({ requests: 0, tokens: 0, in_flight: 0, reserved_tokens: 0 });
    const other = await json(await newTeam({}));
    expect(other.team_id).not.toBe(team.team_id);
  });

  it("keeps a given team_id and every LiteLLM field", async () => {
    const response = await newTeam({ team_id: "team-given", ...LITELLM_FIELDS });
    expect(response.status).toBe(200);
    const team = await json(response);
    expect(team).toMatchObject({ team_id: "team-given", ...LITELLM_FIELDS, spend: 0 });
    expect(Date.parse(team.created_at)).not.toBeNaN();
    expect(team.budget_reset_at).not.toBeNull();
    expect(team.usage).toMatchObject({ tpm_limit: 50_000, rpm_limit: 120, max_parallel_requests: 7 });
    const info = await json(await teamInfo("team-given"));
    expect(info.team_info).toMatchObject({ team_id: "team-given", ...LITELLM_FIELDS });
  });

  it("refuses a team_id that already exists, leaving the first team untouched", async () => {
    expect((await newTeam({ team_id: "team-dup", rpm_limit: 5 })).status).toBe(200);
    const response = await newTeam({ team_id: "team-dup", rpm_limit: 99 });
    expect(response.status).toBe(400);
    expect((await json(response)).error).toMatchObject({ code: "team_exists", param: "team_id", type: "invalid_request_error" });
    expect((await json(await teamInfo("team-dup"))).team_info.rpm_limit).toBe(5);
  });

  it.each([
    ["a negative limit", { tpm_limit: -1 }, "tpm_limit"],
    ["a fractional rpm", { rpm_limit: 1.5 }, "rpm_limit"],
    ["an unknown field", { team_colour: "red" }, null],
    ["a bad budget_duration", { budget_duration: "fortnight" }, "budget_duration"],
    ["a negative budget", { max_budget: -2 }, "max_budget"],
    ["an empty team_id", { team_id: "   " }, "team_id"],
    ["models not a list", { models: "gpt-4o" }, "models"],
    ["blocked not a boolean", { blocked: "yes" }, "blocked"],
  ])("answers 400 for %s and creates nothing", async (_name, body, param) => {
    const before = (await json<unknown[]>(await call("/team/list"))).length;
    const response = await newTeam(body);
    expect(response.status).toBe(400);
    const error = (await json(response)).error;
    expect(error.code).toBe("invalid_request");
    expect(error.type).toBe("invalid_request_error");
    if (param !== null) expect(error.param).toBe(param);
    expect((await json<unknown[]>(await call("/team/list"))).length).toBe(before);
  });

  it("answers 400 for a body that is not JSON", async () => {
    const response = await call("/team/new", { rawBody: "{nope", headers: { "content-type": "application/json" } });
    expect(response.status).toBe(400);
    expect((await json(response)).error.code).toBe("invalid_json");
  });

  it("is for the master key only: a virtual key gets 403, no key 401, a wrong key 401", async () => {
    const key = await createKey();
    const asKey = await newTeam({ team_id: "team-by-key" }, key.key);
    expect(asKey.status).toBe(403);
    expect((await json(asKey)).error).toMatchObject({ code: "admin_only", type: "permission_error" });
    const anonymous = await newTeam({ team_id: "team-by-nobody" }, null);
    expect(anonymous.status).toBe(401);
    expect((await json(anonymous)).error.type).toBe("authentication_error");
    expect((await newTeam({ team_id: "team-by-wrong" }, "sk-not-the-master")).status).toBe(401);
    for (const id of ["team-by-key", "team-by-nobody", "team-by-wrong"]) expect((await teamInfo(id)).status).toBe(404);
  });

  it("every team route refuses a virtual key", async () => {
    const key = await createKey();
    const routes: Array<[string, Record<string, unknown> | undefined]> = [
      ["/team/info?team_id=team-given", undefined],
      ["/team/list", undefined],
      ["/team/update", { team_id: "team-given", rpm_limit: 1 }],
      ["/team/delete", { team_ids: ["team-given"] }],
    ];
    for (const [path, body] of routes) {
      const response = await call(path, { token: key.key, ...(body ? { body } : {}) });
      expect(response.status, path).toBe(403);
      expect((await call(path, { token: null, ...(body ? { body } : {}) })).status, path).toBe(401);
    }
  });
});

describe("/team/info", () => {
  it("returns the settings, live usage from the team's limiter and each key with its own info", async () => {
    expect((await newTeam({ team_id: "team-info", tpm_limit: 100_000, rpm_limit: 50, max_budget: 5 })).status).toBe(200);
    const first = await createKey({ team_id: "team-info", key_alias: "first" });
    const second = await createKey({ team_id: "team-info", key_alias: "second" });
    const outsider = await createKey({ key_alias: "outsider" });
    const answers = [await chat(first.key), await chat(first.key), await chat(second.key), await chat(outsider.key)];
    expect(answers.map((response) => response.status)).toEqual([200, 200, 200, 200]);
    const tokens = (await Promise.all(answers.slice(0, 3).map((response) => json(response)))).reduce((sum, body) => sum + body.usage.total_tokens, 0);
    await settled(first.key);
    await settled(second.key);

    const response = await teamInfo("team-info");
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body.team_id).toBe("team-info");
    expect(body.team_info).toMatchObject({ team_id: "team-info", tpm_limit: 100_000, rpm_limit: 50, max_budget: 5 });
    expect(body.team_info.usage).toMatchObject({ requests: 3, tokens, in_flight: 0, reserved_tokens: 0, tpm_limit: 100_000, rpm_limit: 50 });
    expect(body.team_info.spend).toBeGreaterThan(0);

    expect(body.keys).toHaveLength(2);
    const byAlias = new Map<string, Record<string, any>>(body.keys.map((key: Record<string, any>) => [key.key_alias, key]));
    expect([...byAlias.keys()].sort()).toEqual(["first", "second"]);
    const firstInfo = byAlias.get("first")!;
    expect(firstInfo.token).toBe(first.token);
    expect(firstInfo.team_id).toBe("team-info");
    expect(firstInfo.usage.requests).toBe(2);
    expect(byAlias.get("second")!.usage.requests).toBe(1);
    expect(JSON.stringify(body.keys)).not.toContain(first.key);
    const spendOfKeys = body.keys.reduce((sum: number, key: Record<string, any>) => sum + key.spend, 0);
    expect(Math.round(spendOfKeys * 1e9)).toBe(Math.round(body.team_info.spend * 1e9));
    expect(firstInfo.spend).toBe((await keyInfo(first.key)).spend);
  });

  it("answers 404 for an unknown team and 400 without team_id", async () => {
    const response = await teamInfo("team-that-never-was");
    expect(response.status).toBe(404);
    expect((await json(response)).error).toMatchObject({ code: "team_not_found", type: "not_found_error" });
    expect((await call("/team/info")).status).toBe(400);
  });
});

describe("/team/update", () => {
  it("changes only the fields it is sent", async () => {
    const created = await json(await newTeam({ team_id: "team-partial", ...LITELLM_FIELDS }));
    const response = await updateTeam({ team_id: "team-partial", rpm_limit: 3, team_alias: "Renamed" });
    expect(response.status).toBe(200);
    const updated = await json(response);
    expect(updated).toMatchObject({ ...LITELLM_FIELDS, team_id: "team-partial", rpm_limit: 3, team_alias: "Renamed" });
    expect(updated.created_at).toBe(created.created_at);
    const info = (await json(await teamInfo("team-partial"))).team_info;
    expect(info).toMatchObject({ ...LITELLM_FIELDS, rpm_limit: 3, team_alias: "Renamed" });
    // null clears a limit; everything else still stays.
    const cleared = await json(await updateTeam({ team_id: "team-partial", tpm_limit: null }));
    expect(cleared).toMatchObject({ ...LITELLM_FIELDS, rpm_limit: 3, team_alias: "Renamed", tpm_limit: null });
    const listed = (await json<Array<Record<string, any>>>(await call("/team/list"))).find((team) => team.team_id === "team-partial");
    expect(listed?.team_alias).toBe("Renamed");
  });

  it("is enforced on the very next call", async () => {
    await newTeam({ team_id: "team-tighten" });
    const key = await createKey({ team_id: "team-tighten" });
    expect((await chat(key.key)).status).toBe(200);
    expect((await updateTeam({ team_id: "team-tighten", rpm_limit: 2 })).status).toBe(200);
    expect((await chat(key.key)).status).toBe(200);
    const refused = await chat(key.key);
    expect(refused.status).toBe(429);
    expect((await json(refused)).error.limit).toMatchObject({ scope: "team", name: "rpm_limit", limit: 2 });
    expect((await updateTeam({ team_id: "team-tighten", rpm_limit: 3 })).status).toBe(200);
    expect((await chat(key.key)).status).toBe(200);
    expect((await updateTeam({ team_id: "team-tighten", models: ["gpt-4o"] })).status).toBe(200);
    const notAllowed = await chat(key.key, { model: "gpt-4o-mini" });
    expect(notAllowed.status).toBe(403);
    expect((await json(notAllowed)).error.code).toBe("team_model_not_allowed");
  });

  it("answers 404 for an unknown team and 400 for invalid values", async () => {
    const missing = await updateTeam({ team_id: "team-missing", rpm_limit: 1 });
    expect(missing.status).toBe(404);
    expect((await json(missing)).error.code).toBe("team_not_found");
    await newTeam({ team_id: "team-invalid-update", rpm_limit: 4 });
    expect((await updateTeam({ team_id: "team-invalid-update", rpm_limit: -4 })).status).toBe(400);
    expect((await updateTeam({ rpm_limit: 4 })).status).toBe(400);
    expect((await json(await teamInfo("team-invalid-update"))).team_info.rpm_limit).toBe(4);
  });
});

describe("/team/delete", () => {
  it("refuses while the team has keys, and deletes it once they are gone", async () => {
    await newTeam({ team_id: "team-with-keys" });
    const key = await createKey({ team_id: "team-with-keys" });
    const refused = await deleteTeams(["team-with-keys"]);
    expect(refused.status).toBe(400);
    expect((await json(refused)).error).toMatchObject({ code: "team_has_keys", param: "team_ids" });
    expect((await teamInfo("team-with-keys")).status).toBe(200);
    expect((await chat(key.key)).status).toBe(200);

    expect((await call("/key/delete", { body: { keys: [key.key] } })).status).toBe(200);
    const deleted = await deleteTeams(["team-with-keys"]);
    expect(deleted.status).toBe(200);
    expect(await json(deleted)).toEqual({ deleted_teams: ["team-with-keys"] });
    expect((await teamInfo("team-with-keys")).status).toBe(404);
    const listed = await json<Array<Record<string, any>>>(await call("/team/list"));
    expect(listed.map((team) => team.team_id)).not.toContain("team-with-keys");
  });

  it("a key moved out of the team no longer holds it back", async () => {
    await newTeam({ team_id: "team-moving" });
    const key = await createKey({ team_id: "team-moving" });
    expect((await deleteTeams(["team-moving"])).status).toBe(400);
    expect((await call("/key/update", { body: { key: key.key, team_id: null } })).status).toBe(200);
    expect((await json(await teamInfo("team-moving"))).keys).toEqual([]);
    expect((await deleteTeams(["team-moving"])).status).toBe(200);
    expect((await chat(key.key)).status).toBe(200);
  });

  it("deletes a team without keys; the id can then be reused from scratch", async () => {
    await newTeam({ team_id: "team-empty", rpm_limit: 9 });
    expect((await deleteTeams(["team-empty"])).status).toBe(200);
    expect((await teamInfo("team-empty")).status).toBe(404);
    const again = await newTeam({ team_id: "team-empty" });
    expect(again.status).toBe(200);
    expect(await json(again)).toMatchObject({ team_id: "team-empty", rpm_limit: null, spend: 0 });
  });

  it("answers 404 for an unknown team and deletes nothing of a mixed request", async () => {
    await newTeam({ team_id: "team-kept" });
    const response = await deleteTeams(["team-kept", "team-unknown"]);
    expect(response.status).toBe(404);
    expect((await json(response)).error.code).toBe("team_not_found");
    expect((await teamInfo("team-kept")).status).toBe(200);
  });

  it("a team with keys blocks the whole request", async () => {
    await newTeam({ team_id: "team-free" });
    await newTeam({ team_id: "team-busy" });
    await createKey({ team_id: "team-busy" });
    expect((await deleteTeams(["team-free", "team-busy"])).status).toBe(400);
    expect((await teamInfo("team-free")).status).toBe(200);
  });
});

describe("/team/list", () => {
  it("is a plain array including a new team with its settings and usage", async () => {
    await newTeam({ team_id: "team-listed", team_alias: "Listed", rpm_limit: 11 });
    const response = await call("/team/list");
    expect(response.status).toBe(200);
    const teams = await json<Array<Record<string, any>>>(response);
    expect(Array.isArray(teams)).toBe(true);
    const listed = teams.find((team) => team.team_id === "team-listed");
    expect(listed).toMatchObject({ team_alias: "Listed", rpm_limit: 11, spend: 0 });
    expect(listed?.usage).toMatchObject({ requests: 0, in_flight: 0 });
    expect(new Set(teams.map((team) => team.team_id)).size).toBe(teams.length);
  });
});

describe("/key/generate with a team", () => {
  it("refuses a team_id that does not exist with 400 team_not_found and creates no key", async () => {
    const before = (await json(await call("/key/list?size=100"))).total_count;
    const response = await call("/key/generate", { body: { team_id: "team-nowhere", key_alias: "orphan" } });
    expect(response.status).toBe(400);
    expect((await json(response)).error).toMatchObject({ code: "team_not_found", param: "team_id" });
    expect((await json(await call("/key/list?size=100"))).total_count).toBe(before);
  });

  it("accepts a team that exists", async () => {
    await newTeam({ team_id: "team-real" });
    const response = await call("/key/generate", { body: { team_id: "team-real" } });
    expect(response.status).toBe(200);
    expect((await json(response)).team_id).toBe("team-real");
  });
});
