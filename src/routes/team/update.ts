import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { ApiError } from "../../http/errors";
import { parseBody } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { directory, teamObject } from "../../stubs";
import { updateTeamRequestSchema } from "../../schemas/team";
import { teamInfo } from "./present";
import { leaseBook } from "../../leases/book";

export const updateTeam = new Hono<AppEnv>().post("/team/update", requireMaster, async (c) => {
  const { team_id, ...fields } = await parseBody(c, updateTeamRequestSchema, c.var.config.maxBodyBytes);
  leaseBook.retireOwner("team", team_id);
  const view = await teamObject(c.env, team_id).update(fields);
  if (!view) throw new ApiError("team_not_found", `No team '${team_id}'.`);
  await directory(c.env).putTeam({ team_id, team_alias: view.record.team_alias, created_at: view.record.created_at });
  return c.json(teamInfo(view));
});
