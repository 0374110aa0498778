import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { keyNotFound } from "../../http/errors";
import { parseBody } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { addPeriod, parsePeriod } from "../../limiter";
import { directory, keyObject } from "../../stubs";
import { updateKeyRequestSchema } from "../../schemas/key";
import { keyInfoResponse } from "./present";
import { requireTeam, tokenOf } from "./resolve";
import { leaseBook } from "../../leases/book";

/** Partial update with LiteLLM's field names; `duration` restarts the expiry clock from now (null: never). */
export const updateKey = new Hono<AppEnv>().post("/key/update", requireMaster, async (c) => {
  const { key, duration, ...fields } = await parseBody(c, updateKeyRequestSchema, c.var.config.maxBodyBytes);
  const token = await tokenOf(key);
  await requireTeam(c, fields.team_id);
  const period = duration ? parsePeriod(duration) : null;
  const expires = duration === undefined ? undefined : period ? new Date(addPeriod(Date.now(), period)).toISOString() : null;
  leaseBook.retireOwner("key", token);
  const view = await keyObject(c.env, token).update(fields, expires);
  if (!view) throw keyNotFound();
  const { record } = view;
  await directory(c.env).put({ token, key_alias: record.key_alias, team_id: record.team_id, user_id: record.user_id, created_at: record.created_at });
  return c.json(keyInfoResponse(view));
});
