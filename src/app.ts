import { Hono } from "hono";
import type { AppEnv } from "./http/app-env";
import { withConfig } from "./http/config-middleware";
import { corsPolicy } from "./http/cors-policy";
import { headerLimits } from "./http/header-limits";
import { managementGate } from "./http/management-gate";
import { dialectOf, errorResponse } from "./http/dialect";
import { ApiError, routeNotFound } from "./http/errors";
import { ConfigError } from "./config/config";
import { alertRoutes } from "./routes/alerts";
import { customerRoutes } from "./routes/customer";
import { deploymentRoutes } from "./routes/deployment";
import { health } from "./routes/health";
import { keyRoutes } from "./routes/key";
import { openApi } from "./routes/openapi";
import { proxyRoutes } from "./routes/proxy";
import { spendLogs } from "./routes/spend/logs";
import { teamRoutes } from "./routes/team";
import { uiRoutes } from "./routes/ui";

export const app = new Hono<AppEnv>();

app.use("*", withConfig);
app.use("*", headerLimits);
for (const prefix of ["/key/*", "/team/*", "/spend/*", "/customer/*", "/deployment/*", "/alerts/*", "/ui/*"]) app.use(prefix, managementGate);
for (const prefix of ["/v1/*", "/chat/*", "/completions", "/embeddings", "/responses", "/models", "/messages", "/messages/*"]) app.use(prefix, corsPolicy);
app.route("/", health);
app.route("/", keyRoutes);
app.route("/", proxyRoutes);
app.route("/", spendLogs);
app.route("/", teamRoutes);
app.route("/", customerRoutes);
app.route("/", openApi);
app.route("/", deploymentRoutes);
app.route("/", alertRoutes);
app.route("/", uiRoutes);

const KNOWN_PATHS = new Set(app.routes.map((route) => route.path));

app.notFound((c) => {
  const path = new URL(c.req.url).pathname;
  if (KNOWN_PATHS.has(path)) {
    const allowed = [...new Set(app.routes.filter((route) => route.path === path && route.method !== "ALL").map((route) => route.method))];
    return errorResponse(new ApiError("method_not_allowed", `Method ${c.req.method} is not allowed on ${path}; use ${allowed.join(", ")}.`, {
      headers: { allow: allowed.join(", ") },
    }), dialectOf(path));
  }
  return errorResponse(routeNotFound(c.req.method, path), dialectOf(path));
});

/** Every error leaves in the dialect of the endpoint that was called (OpenAI's, or Anthropic's on /v1/messages). */
app.onError((error, c) => {
  const path = new URL(c.req.url).pathname;
  const answer = (apiError: ApiError) => errorResponse(apiError, dialectOf(path));
  if (error instanceof ApiError) return answer(error);
  if (error instanceof ConfigError) return answer(new ApiError("invalid_configuration", error.message));
  console.error(`unhandled error on ${c.req.method} ${path}:`, error instanceof Error ? error.message : error);
  return answer(new ApiError("internal_error", "Internal error; the request was not completed."));
});
