import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { keyNotFound } from "../../http/errors";
import { parseBody } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { leaseBook } from "../../leases/book";
import { keyObject } from "../../stubs";
import { keyActionRequestSchema } from "../../schemas/key";
import { keyInfoResponse } from "./present";
import { tokenOf } from "./resolve";

/**
 * Blocking takes effect on the very next admission at the key's object, and on this front door at once; another
 * front door holding a lease of the key admits under it until that lease ends (LEASE_MS).
 */
const setBlocked = (blocked: boolean) =>
  new Hono<AppEnv>().post(blocked ? "/key/block" : "/key/unblock", requireMaster, async (c) => {
    const { key } = await parseBody(c, keyActionRequestSchema, c.var.config.maxBodyBytes);
    const token = await tokenOf(key);
    leaseBook.retireOwner("key", token);
    const view = await keyObject(c.env, token).update({ blocked }, undefined);
    if (!view) throw keyNotFound();
    return c.json(keyInfoResponse(view));
  });

export const blockKey = setBlocked(true);
export const unblockKey = setBlocked(false);
