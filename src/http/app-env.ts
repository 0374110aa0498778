import type { Bindings } from "../bindings";
import type { Config } from "../config/config";

/** Hono's typing for this Worker: bindings plus what the middleware puts on the context. */
export interface AppEnv {
  Bindings: Bindings;
  Variables: {
    config: Config;
  };
}
