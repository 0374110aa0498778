import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { validate } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { directory, endUserObject } from "../../stubs";
import { listEndUsersQuerySchema } from "../../schemas/end-user";
import { endUserInfo } from "./present";

/**
 * One page of customers, oldest first, registered or created from defaults, each with its live usage. LiteLLM's
 * /customer/list answers a plain array, so the body stays one and the paging totals travel in headers:
 * `x-total-count` (customers in all pages) and `x-total-pages` (pages of `size`).
 */
export const listEndUsers = new Hono<AppEnv>().get("/customer/list", requireMaster, async (c) => {
  const { page, size } = validate(listEndUsersQuerySchema, c.req.query());
  const found = await directory(c.env).listEndUsers(page, size);
  const views = await Promise.all(found.ids.map((id) => endUserObject(c.env, id).view()));
  c.header("x-total-count", String(found.total));
  c.header("x-total-pages", String(Math.ceil(found.total / size)));
  return c.json(views.flatMap((view) => (view ? [endUserInfo(view)] : [])));
});
