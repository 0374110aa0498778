import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { ApiError, keyNotFound } from "../../http/errors";
import { parseBody } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { directory, keyObject } from "../../stubs";
import { deleteKeyRequestSchema } from "../../schemas/key";
import { tokenOf } from "./resolve";
import { leaseBook } from "../../leases/book";

/** All or nothing: if any named key does not exist, nothing is deleted and the answer says which. */
export const deleteKeys = new Hono<AppEnv>().post("/key/delete", requireMaster, async (c) => {
  const { keys = [], key_aliases = [] } = await parseBody(c, deleteKeyRequestSchema, c.var.config.maxBodyBytes);
  const aliased = await directory(c.env).tokensByAlias(key_aliases);
  const unknownAliases = key_aliases.filter((alias) => !aliased.some((entry) => entry.key_alias === alias));
  if (unknownAliases.length > 0) throw new ApiError("key_not_found", `No key with alias: ${unknownAliases.join(", ")}.`);
  const tokens = [...new Set([...(await Promise.all(keys.map(tokenOf))), ...aliased.map((entry) => entry.token)])];
  const views = await Promise.all(tokens.map((token) => keyObject(c.env, token).view()));
  const missing = tokens.filter((_, index) => views[index] === null);
  if (missing.length > 0) throw keyNotFound(missing);
  for (const token of tokens) leaseBook.retireOwner("key", token);
  await Promise.all(tokens.map((token) => keyObject(c.env, token).destroy()));
  await directory(c.env).remove(tokens);
  return c.json({ deleted_keys: tokens });
});
