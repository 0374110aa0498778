import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { badRequest } from "../../http/errors";
import { parseBody } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { directory, endUserObject } from "../../stubs";
import { END_USER_DEFAULTS, endUserSettingsSchema, newEndUserRequestSchema, type EndUserRecord } from "../../schemas/end-user";
import { endUserInfo } from "./present";

/**
 * Registers a customer with its own limits. One already created from defaults (seen through a key) becomes
 * registered and keeps what it has spent; one already registered is a 400, as in LiteLLM.
 */
export const newEndUser = new Hono<AppEnv>().post("/customer/new", requireMaster, async (c) => {
  const { user_id, ...fields } = await parseBody(c, newEndUserRequestSchema, c.var.config.maxBodyBytes);
  const now = new Date().toISOString();
  const record: EndUserRecord = {
    ...endUserSettingsSchema.parse({ ...END_USER_DEFAULTS, ...fields }),
    user_id,
    registered: true,
    created_at: now,
    updated_at: now,
  };
  const endUser = endUserObject(c.env, user_id);
  if (!(await endUser.register(record))) throw badRequest("end_user_exists", `End user '${user_id}' already exists.`, "user_id");
  const view = (await endUser.view())!;
  await directory(c.env).putEndUser({ user_id, alias: view.record.alias, registered: true, created_at: view.record.created_at });
  return c.json(endUserInfo(view));
});
