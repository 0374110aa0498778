import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { deadLetters } from "./dead-letters";

/** Alert delivery's management side: what the webhook never accepted. */
export const alertRoutes = new Hono<AppEnv>().route("/", deadLetters);
