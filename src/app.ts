import { Hono } from "hono";
import type { AppEnv } from "./http/app-env";
import { withConfig } from "./http/config-middleware";
import { corsPolicy } from "./http/cors-policy";
import { headerLimits } from "./http/header-limits";
import { managementGate } from "./http/management-gate";
import { ApiError, routeNotFound } from "./http/errors";
import { ConfigError } from "./config/config";
import { health } from "./routes/health";
import { keyRoutes } from "./routes/key";
import { proxyRoutes } from "./routes/proxy";
import { spendLogs } from "./routes/spend/logs";
import { teamRoutes } from "./routes/team";

export const app = new Hono<AppEnv>();

app.use("*", withConfig);
app.use("*", headerLimits);
for (const prefix of ["/key/*", "/team/*", "/spend/*"]) app.use(prefix, managementGate);
for (const prefix of ["/v1/*", "/chat/*", "/completions", "/embeddings", "/responses", "/models"]) app.use(prefix, corsPolicy);
app.route("/", health);
app.route("/", keyRoutes);
app.route("/", proxyRoutes);
app.route("/", spendLogs);
app.route("/", teamRoutes);

const KNOWN_PATHS = new Set(app.routes.map((route) => route.path));

app.notFound((c) => {
  const path = new URL(c.req.url).pathname;
  if (KNOWN_PATHS.has(path)) {
    const allowed = [...new Set(app.routes.filter((route) => route.path === path && route.method !== "ALL").map((route) => route.method))];
    return new ApiError("method_not_allowed", `Method ${c.req.method} is not allowed on ${path}; use ${allowed.join(", ")}.`, {
      headers: { allow: allowed.join(", ") },
    }).toResponse();
  }
  return routeNotFound(c.req.method, path).toResponse();
});

app.onError((error, c) => {
  if (error instanceof ApiError) return error.toResponse();
  if (error instanceof ConfigError) return new ApiError("invalid_configuration", error.message).toResponse();
  console.error(`unhandled error on ${c.req.method} ${new URL(c.req.url).pathname}:`, error instanceof Error ? error.message : error);
  return new ApiError("internal_error", "Internal error; the request was not completed.").toResponse();
});
