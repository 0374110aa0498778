import type { KeyIndexObject } from "../objects/key-index-object";
import type { KeyObject } from "../objects/key-object";

/** What wrangler binds: Durable Object namespaces, plain-text vars and secrets (always strings). */
export interface Bindings {
  KEYS: DurableObjectNamespace<KeyObject>;
  KEY_INDEX: DurableObjectNamespace<KeyIndexObject>;
  MASTER_KEY?: string;
  UPSTREAM_BASE_URL?: string;
  UPSTREAM_API_KEY?: string;
  UPSTREAM_TIMEOUT_MS?: string;
  RATE_LIMIT_WINDOW_SECONDS?: string;
  RESERVATION_TTL_MS?: string;
  DEFAULT_OUTPUT_TOKENS?: string;
  MODEL_PRICES?: string;
  MAX_BODY_BYTES?: string;
  /** Set by `npm run dev` only: enables the documented local master key. */
  EDGEQUOTA_LOCAL_DEV?: string;
}

declare global {
  namespace Cloudflare {
    interface Env extends Bindings {}
  }
}
