import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { secretsEqual, sha256Hex } from "../crypto/secret";
import { keyObject } from "../stubs";
import type { AppEnv } from "./app-env";
import { credential } from "./credentials";
import { ApiError } from "./errors";

/** Whether the caller holds the master key. Refuses outright when no master key is configured. */
export async function isMaster(c: Context<AppEnv>, given: string): Promise<boolean> {
  const master = c.var.config.masterKey;
  if (master === null) {
    throw new ApiError("master_key_not_configured",
      "The management API is disabled until a master key is set: run `wrangler secret put MASTER_KEY` and redeploy.");
  }
  return secretsEqual(given, master);
}

/** Management routes other than /key/info: the master key only. */
export const requireMaster = createMiddleware<AppEnv>(async (c, next) => {
  const given = credential(c);
  if (!(await isMaster(c, given))) throw await refusal(c, given);
  await next();
});

/** A real virtual key learns that it lacks permission; anything else is simply not a valid credential. */
async function refusal(c: Context<AppEnv>, given: string): Promise<ApiError> {
  if (given.startsWith("sk-") && given.length <= 512) {
    if (await keyObject(c.env, await sha256Hex(given)).exists()) return new ApiError("admin_only", "Virtual keys may only call /key/info about themselves; this route needs the master key.");
  }
  return new ApiError("invalid_api_key", "Invalid master key.");
}
