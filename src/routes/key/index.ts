import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { blockKey, unblockKey } from "./block";
import { deleteKeys } from "./delete";
import { generateKey } from "./generate";
import { keyInfoRoute } from "./info";
import { listKeys } from "./list";
import { regenerateKey } from "./regenerate";
import { updateKey } from "./update";

/** LiteLLM's key management API, one route per file. */
export const keyRoutes = new Hono<AppEnv>()
  .route("/", generateKey)
  .route("/", keyInfoRoute)
  .route("/", updateKey)
  .route("/", deleteKeys)
  .route("/", listKeys)
  .route("/", blockKey)
  .route("/", unblockKey)
  .route("/", regenerateKey);
