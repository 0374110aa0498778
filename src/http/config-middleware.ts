import { createMiddleware } from "hono/factory";
import { loadConfig } from "../config/config";
import type { AppEnv } from "./app-env";

/** Validates the environment on first use so a bad variable is reported clearly, not as a crash later. */
export const withConfig = createMiddleware<AppEnv>(async (c, next) => {
  c.set("config", loadConfig(c.env));
  await next();
});
