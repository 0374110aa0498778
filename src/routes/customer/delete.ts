import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { parseBody } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { directory, endUserObject } from "../../stubs";
import { endUserIdsRequestSchema } from "../../schemas/end-user";
import { existingEndUsers } from "./resolve";

/**
 * All or nothing, like /team/delete: every id must be known, else a 404 names the unknown ones and nothing is
 * deleted. Deleting forgets the settings, the spend and the ledger; an end user seen again through a key with
 * defaults starts afresh from them. The answer has LiteLLM's fields (`deleted_customers` is its row count, and
 * its message) plus the ids deleted.
 */
export const deleteEndUsers = new Hono<AppEnv>().post("/customer/delete", requireMaster, async (c) => {
  const { user_ids } = await parseBody(c, endUserIdsRequestSchema, c.var.config.maxBodyBytes);
  const ids = await existingEndUsers(c.env, user_ids);
  await Promise.all(ids.map((id) => endUserObject(c.env, id).destroy()));
  await directory(c.env).removeEndUsers(ids);
  return c.json({
    deleted_customers: ids.length,
    message: `Successfully deleted customers with ids: ${ids.join(", ")}`,
    deleted_user_ids: ids,
  });
});
