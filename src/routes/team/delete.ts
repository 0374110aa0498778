import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { ApiError, badRequest } from "../../http/errors";
import { parseBody } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { directory, teamObject } from "../../stubs";
import { deleteTeamRequestSchema } from "../../schemas/team";
import { leaseBook } from "../../leases/book";

/**
 * All or nothing. A team that still has keys is not deleted: its keys would lose the limits they were given
 * under it; delete or move the keys first.
 */
export const deleteTeams = new Hono<AppEnv>().post("/team/delete", requireMaster, async (c) => {
  const { team_ids } = await parseBody(c, deleteTeamRequestSchema, c.var.config.maxBodyBytes);
  const ids = [...new Set(team_ids)];
  const exists = await Promise.all(ids.map((id) => teamObject(c.env, id).exists()));
  const missing = ids.filter((_, index) => !exists[index]);
  if (missing.length > 0) throw new ApiError("team_not_found", `No such team: ${missing.join(", ")}.`);
  const index = directory(c.env);
  const keys = await Promise.all(ids.map((id) => index.teamKeys(id)));
  const busy = ids.filter((_, position) => keys[position]!.length > 0);
  if (busy.length > 0) throw badRequest("team_has_keys", `Team still has keys: ${busy.join(", ")}. Delete or move them first.`, "team_ids");
  for (const id of ids) leaseBook.retireOwner("team", id);
  await Promise.all(ids.map((id) => teamObject(c.env, id).destroy()));
  await index.removeTeams(ids);
  return c.json({ deleted_teams: ids });
});
