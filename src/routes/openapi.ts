import { Hono } from "hono";
import type { AppEnv } from "../http/app-env";
import { openApiText } from "../openapi/document";

/** The OpenAPI 3.1 document of every route, built from the zod schemas they validate with. Public: it holds no data. */
export const openApi = new Hono<AppEnv>().get("/openapi.json", (c) =>
  c.body(openApiText(), 200, { "content-type": "application/json", "cache-control": "public, max-age=300" }),
);
