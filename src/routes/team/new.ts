import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { badRequest } from "../../http/errors";
import { parseBody } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { directory, teamObject } from "../../stubs";
import { newTeamRequestSchema, TEAM_DEFAULTS, teamSettingsSchema, type TeamRecord } from "../../schemas/team";
import { teamInfo } from "./present";

export const newTeam = new Hono<AppEnv>().post("/team/new", requireMaster, async (c) => {
  const { team_id, ...fields } = await parseBody(c, newTeamRequestSchema, c.var.config.maxBodyBytes);
  const now = new Date().toISOString();
  const record: TeamRecord = {
    ...teamSettingsSchema.parse({ ...TEAM_DEFAULTS, ...fields }),
    team_id: team_id ?? crypto.randomUUID(),
    created_at: now,
    updated_at: now,
  };
  const team = teamObject(c.env, record.team_id);
  if (!(await team.create(record))) throw badRequest("team_exists", `Team '${record.team_id}' already exists.`, "team_id");
  await directory(c.env).putTeam({ team_id: record.team_id, team_alias: record.team_alias, created_at: record.created_at });
  return c.json(teamInfo((await team.view())!));
});
