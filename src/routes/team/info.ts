import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { ApiError } from "../../http/errors";
import { validate } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { directory, keyObject, teamObject } from "../../stubs";
import { teamInfoQuerySchema, type TeamInfoResponse } from "../../schemas/team";
import { keyInfo } from "../key/present";
import { teamInfo } from "./present";

/** The team's settings, live usage from the object that enforces them, and each of its keys with theirs. */
export const teamInfoRoute = new Hono<AppEnv>().get("/team/info", requireMaster, async (c) => {
  const { team_id } = validate(teamInfoQuerySchema, c.req.query());
  const view = await teamObject(c.env, team_id).view();
  if (!view) throw new ApiError("team_not_found", `No team '${team_id}'.`);
  const tokens = await directory(c.env).teamKeys(team_id);
  const keys = await Promise.all(tokens.map((token) => keyObject(c.env, token).view()));
  return c.json({
    team_id,
    team_info: teamInfo(view),
    keys: keys.flatMap((key) => (key ? [keyInfo(key)] : [])),
  } satisfies TeamInfoResponse);
});
