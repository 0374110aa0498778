import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./app-env";
import { routeNotFound } from "./errors";

/**
 * Hides the management API where operators do not want it: switched off entirely (MANAGEMENT_API=off) or
 * served only on private hostnames (MANAGEMENT_HOSTNAMES). Hidden means 404, as if the route did not exist.
 */
export const managementGate = createMiddleware<AppEnv>(async (c, next) => {
  const { managementApi, managementHostnames } = c.var.config;
  const host = new URL(c.req.url).hostname.toLowerCase();
  if (!managementApi || (managementHostnames !== null && !managementHostnames.includes(host))) {
    throw routeNotFound(c.req.method, new URL(c.req.url).pathname);
  }
  await next();
});
