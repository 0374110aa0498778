import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { blockEndUsers, unblockEndUsers } from "./block";
import { deleteEndUsers } from "./delete";
import { endUserInfoRoute } from "./info";
import { listEndUsers } from "./list";
import { newEndUser } from "./new";
import { updateEndUser } from "./update";

/** LiteLLM's customer (end user) management API, one route per file; the master key only. */
export const customerRoutes = new Hono<AppEnv>()
  .route("/", newEndUser)
  .route("/", endUserInfoRoute)
  .route("/", updateEndUser)
  .route("/", deleteEndUsers)
  .route("/", listEndUsers)
  .route("/", blockEndUsers)
  .route("/", unblockEndUsers);
