import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { listDeployments } from "./list";

/** The upstream deployments' live state (DEPLOYMENTS is configuration, so there is nothing to create or edit). */
export const deploymentRoutes = new Hono<AppEnv>().route("/", listDeployments);
