import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { validate } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { endUserObject } from "../../stubs";
import { endUserInfoQuerySchema } from "../../schemas/end-user";
import { endUserNotFound } from "./resolve";
import { endUserInfo } from "./present";

/** A customer's settings and live usage, registered or created from defaults. */
export const endUserInfoRoute = new Hono<AppEnv>().get("/customer/info", requireMaster, async (c) => {
  const { end_user_id } = validate(endUserInfoQuerySchema, c.req.query());
  const view = await endUserObject(c.env, end_user_id).view();
  if (!view) throw endUserNotFound([end_user_id], "end_user_id");
  return c.json(endUserInfo(view));
});
