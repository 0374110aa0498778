import { Hono } from "hono";
import { secretsEqual, sha256Hex } from "../../crypto/secret";
import type { AppEnv } from "../../http/app-env";
import { credential } from "../../http/credentials";
import { ApiError, badRequest, forbidden, unauthorized } from "../../http/errors";
import { validate } from "../../http/json-body";
import { isMaster } from "../../http/master-auth";
import { keyObject } from "../../objects/stubs";
import { keyInfoQuerySchema } from "../../schemas/key";
import { keyInfoResponse } from "./present";
import { tokenOf, viewOrNotFound } from "./resolve";

/** The master key may ask about any key; a virtual key only about itself (with or without ?key=). */
export const keyInfoRoute = new Hono<AppEnv>().get("/key/info", async (c) => {
  const given = credential(c);
  const query = validate(keyInfoQuerySchema, c.req.query());
  if (await isMaster(c, given)) {
    if (query.key === undefined) throw badRequest("missing_key", "Pass ?key=<sk-... or token> to read a key with the master key.", "key");
    return c.json(keyInfoResponse(await viewOrNotFound(c, await tokenOf(query.key))));
  }
  const own = await sha256Hex(given);
  const view = await keyObject(c.env, own).view();
  if (!view) throw unauthorized("Invalid API key.");
  // As on the proxy path, and as LiteLLM does: a blocked or expired key is refused everywhere.
  if (view.record.blocked) throw forbidden("key_blocked", "API key is blocked.");
  if (view.record.expires !== null && Date.parse(view.record.expires) <= Date.now()) {
    throw new ApiError(401, "authentication_error", "key_expired", `API key expired at ${view.record.expires}.`);
  }
  if (query.key !== undefined && !(await secretsEqual(await tokenOf(query.key), own))) {
    throw forbidden("not_own_key", "A virtual key may only read its own info.");
  }
  return c.json(keyInfoResponse(view));
});
