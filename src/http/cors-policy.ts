import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./app-env";

/**
 * Explicit CORS for the OpenAI endpoints only: origins listed in CORS_ORIGINS (none by default, so browsers
 * cannot call the gateway unless the operator opts in). The management API never answers cross-origin.
 */
export const corsPolicy = createMiddleware<AppEnv>(async (c, next) => {
  const allowed = c.var.config.corsOrigins;
  if (allowed.length === 0) return next();
  return cors({
    origin: (origin) => (allowed.includes("*") || allowed.includes(origin) ? origin : null),
    allowMethods: ["GET", "POST", "OPTIONS"],
    allowHeaders: [
      "authorization", "content-type", "x-api-key", "api-key", "openai-organization", "openai-project", "x-stainless-*",
      "anthropic-version", "anthropic-beta", "anthropic-dangerous-direct-browser-access",
    ],
    exposeHeaders: [
      "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
      "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
      "retry-after", "retry-after-ms", "x-should-retry", "x-litellm-call-id", "x-litellm-response-cost",
      ...["requests", "tokens", "input-tokens", "output-tokens"].flatMap((kind) =>
        ["limit", "remaining", "reset"].map((part) => `anthropic-ratelimit-${kind}-${part}`),
      ),
    ],
    maxAge: 600,
  })(c, next);
});
