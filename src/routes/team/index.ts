import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { deleteTeams } from "./delete";
import { teamInfoRoute } from "./info";
import { listTeams } from "./list";
import { newTeam } from "./new";
import { updateTeam } from "./update";

/** LiteLLM's team management API, one route per file. */
export const teamRoutes = new Hono<AppEnv>()
  .route("/", newTeam)
  .route("/", teamInfoRoute)
  .route("/", updateTeam)
  .route("/", deleteTeams)
  .route("/", listTeams);
