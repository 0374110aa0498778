import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { validate } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { directory, keyObject } from "../../stubs";
import { listKeysQuerySchema, type KeyInfo } from "../../schemas/key";
import { keyInfo } from "./present";

/** Hashed tokens by default (LiteLLM's behaviour); full objects, with live spend, when asked. */
export const listKeys = new Hono<AppEnv>().get("/key/list", requireMaster, async (c) => {
  const { page, size, return_full_object, ...filter } = validate(listKeysQuerySchema, c.req.query());
  const found = await directory(c.env).list(filter, page, size);
  let keys: Array<string | KeyInfo> = found.tokens;
  if (return_full_object) {
    const views = await Promise.all(found.tokens.map((token) => keyObject(c.env, token).view()));
    keys = views.flatMap((view) => (view ? [keyInfo(view)] : []));
  }
  return c.json({ keys, total_count: found.total, current_page: page, total_pages: Math.ceil(found.total / size) });
});
