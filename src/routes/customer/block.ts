import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { parseBody } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { endUserObject } from "../../stubs";
import { endUserIdsRequestSchema } from "../../schemas/end-user";
import { endUserInfo } from "./present";
import { existingEndUsers } from "./resolve";

/**
 * Blocking takes effect on the end user's very next admission, through any key: they all ask the same object.
 * All or nothing: an unknown id is a 404 and nothing changes. LiteLLM answers /customer/block with the updated
 * customers under `blocked_users`; /customer/unblock answers them under `unblocked_users` (LiteLLM's unblock
 * edits an in-memory block list instead and answers what is left on it).
 */
const setBlocked = (blocked: boolean) =>
  new Hono<AppEnv>().post(blocked ? "/customer/block" : "/customer/unblock", requireMaster, async (c) => {
    const { user_ids } = await parseBody(c, endUserIdsRequestSchema, c.var.config.maxBodyBytes);
    const ids = await existingEndUsers(c.env, user_ids);
    const views = await Promise.all(ids.map((id) => endUserObject(c.env, id).update({ blocked })));
    const users = views.flatMap((view) => (view ? [endUserInfo(view)] : []));
    return c.json(blocked ? { blocked_users: users } : { unblocked_users: users });
  });

export const blockEndUsers = setBlocked(true);
export const unblockEndUsers = setBlocked(false);
