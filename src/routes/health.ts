import { Hono } from "hono";
import type { AppEnv } from "../http/app-env";

/** Liveness plus which upstream this Worker forwards to, without any secret. */
export const health = new Hono<AppEnv>().get("/health", (c) =>
  c.json({ status: "ok", upstream: c.var.config.upstreamBaseUrl === null ? "embedded-mock" : "configured" }),
);
