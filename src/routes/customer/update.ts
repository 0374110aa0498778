import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { parseBody } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { directory, endUserObject } from "../../stubs";
import { updateEndUserRequestSchema } from "../../schemas/end-user";
import { endUserLimitFields } from "../../schemas/end-user-defaults";
import { endUserNotFound } from "./resolve";
import { endUserInfo } from "./present";

const LIMIT_FIELDS = Object.keys(endUserLimitFields);

/**
 * Changes the fields sent and keeps the others. An end user created from defaults follows the defaults of the
 * key it is seen through, which would silently undo new limits on its next call: giving it limits of its own
 * registers it (keeping its spend), as /customer/new would. Blocking, alias and metadata do not.
 */
export const updateEndUser = new Hono<AppEnv>().post("/customer/update", requireMaster, async (c) => {
  const { user_id, ...fields } = await parseBody(c, updateEndUserRequestSchema, c.var.config.maxBodyBytes);
  const endUser = endUserObject(c.env, user_id);
  let view = await endUser.update(fields);
  if (!view) throw endUserNotFound([user_id], "user_id");
  if (!view.record.registered && LIMIT_FIELDS.some((field) => field in fields)) {
    await endUser.register({ ...view.record, registered: true });
    view = await endUser.view();
    if (!view) throw endUserNotFound([user_id], "user_id");
  }
  const { record } = view;
  await directory(c.env).putEndUser({ user_id, alias: record.alias, registered: record.registered, created_at: record.created_at });
  return c.json(endUserInfo(view));
});
