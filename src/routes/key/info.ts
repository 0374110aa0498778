import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { validate } from "../../http/json-body";
import { keyInfoQuerySchema } from "../../schemas/key";
import { keyInfoResponse } from "./present";
import { readableKey, viewOrNotFound } from "./resolve";

/** The master key may ask about any key; a virtual key only about itself (with or without ?key=). */
export const keyInfoRoute = new Hono<AppEnv>().get("/key/info", async (c) => {
  const query = validate(keyInfoQuerySchema, c.req.query());
  const token = await readableKey(c, query.key, "key");
  return c.json(keyInfoResponse(await viewOrNotFound(c, token)));
});
