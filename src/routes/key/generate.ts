import { Hono } from "hono";
import { maskSecret, newSecret, sha256Hex } from "../../crypto/secret";
import type { AppEnv } from "../../http/app-env";
import { badRequest } from "../../http/errors";
import { parseBody } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { addPeriod, parsePeriod } from "../../limiter";
import { directory, keyObject } from "../../stubs";
import { generateKeyRequestSchema, KEY_DEFAULTS, keySettingsSchema, type GenerateKeyResponse, type KeyRecord } from "../../schemas/key";
import { keyInfo } from "./present";
import { requireTeam } from "./resolve";

export const generateKey = new Hono<AppEnv>().post("/key/generate", requireMaster, async (c) => {
  const { key: chosen, duration, ...fields } = await parseBody(c, generateKeyRequestSchema, c.var.config.maxBodyBytes);
  await requireTeam(c, fields.team_id);
  const secret = chosen ?? newSecret();
  const token = await sha256Hex(secret);
  const now = Date.now();
  const period = duration ? parsePeriod(duration) : null;
  const record: KeyRecord = {
    ...keySettingsSchema.parse({ ...KEY_DEFAULTS, ...fields }),
    token,
    key_name: maskSecret(secret),
    expires: period ? new Date(addPeriod(now, period)).toISOString() : null,
    created_at: new Date(now).toISOString(),
    updated_at: new Date(now).toISOString(),
  };
  const stub = keyObject(c.env, token);
  if (!(await stub.create(record))) throw badRequest("key_exists", "A key with this secret already exists.", "key");
  await directory(c.env).put({ token, key_alias: record.key_alias, team_id: record.team_id, user_id: record.user_id, created_at: record.created_at });
  const view = await stub.view();
  const { usage: _usage, ...info } = keyInfo(view!);
  return c.json({ ...info, key: secret } satisfies GenerateKeyResponse);
});
