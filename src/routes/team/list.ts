import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { requireMaster } from "../../http/master-auth";
import { directory, teamObject } from "../../stubs";
import { teamInfo } from "./present";

/** Every team with its live usage, as LiteLLM's /team/list returns them (a plain array). */
export const listTeams = new Hono<AppEnv>().get("/team/list", requireMaster, async (c) => {
  const ids = await directory(c.env).listTeams();
  const views = await Promise.all(ids.map((id) => teamObject(c.env, id).view()));
  return c.json(views.flatMap((view) => (view ? [teamInfo(view)] : [])));
});
