import { Hono } from "hono";
import { maskSecret, newSecret, sha256Hex } from "../../crypto/secret";
import type { AppEnv } from "../../http/app-env";
import { keyNotFound } from "../../http/errors";
import { parseBody } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { directory, keyObject } from "../../stubs";
import { keyActionRequestSchema, type GenerateKeyResponse } from "../../schemas/key";
import { keyInfo } from "./present";
import { tokenOf } from "./resolve";
import { leaseBook } from "../../leases/book";

/**
 * New secret, same settings, spend, windows and in-flight calls. The old secret stops working at once; calls
 * admitted under it still settle, forwarded by the old object to the new one.
 */
export const regenerateKey = new Hono<AppEnv>().post("/key/regenerate", requireMaster, async (c) => {
  const { key } = await parseBody(c, keyActionRequestSchema, c.var.config.maxBodyBytes);
  const oldToken = await tokenOf(key);
  const secret = newSecret();
  const token = await sha256Hex(secret);
  leaseBook.retireOwner("key", oldToken);
  const record = await keyObject(c.env, oldToken).moveTo(token, maskSecret(secret));
  if (!record) throw keyNotFound();
  const index = directory(c.env);
  await index.remove([oldToken]);
  await index.put({ token, key_alias: record.key_alias, team_id: record.team_id, user_id: record.user_id, created_at: record.created_at });
  const view = await keyObject(c.env, token).view();
  const { usage: _usage, ...info } = keyInfo(view!);
  return c.json({ ...info, key: secret } satisfies GenerateKeyResponse);
});
