import type { DirectoryObject } from "../objects/directory-object";
import type { DeploymentObject } from "../objects/deployment-object";
import type { KeyObject } from "../objects/key-object";
import type { TeamObject } from "../objects/team-object";

/** What wrangler binds: Durable Object namespaces, plain-text vars and secrets (always strings). */
export interface Bindings {
  KEYS: DurableObjectNamespace<KeyObject>;
  TEAMS: DurableObjectNamespace<TeamObject>;
  DEPLOYMENTS_LIMITS: DurableObjectNamespace<DeploymentObject>;
  DIRECTORY: DurableObjectNamespace<DirectoryObject>;
  MASTER_KEY?: string;
  UPSTREAM_BASE_URL?: string;
  UPSTREAM_API_KEY?: string;
  UPSTREAM_TIMEOUT_MS?: string;
  RATE_LIMIT_WINDOW_SECONDS?: string;
  RESERVATION_TTL_MS?: string;
  DEFAULT_OUTPUT_TOKENS?: string;
  MODEL_PRICES?: string;
  DEPLOYMENTS?: string;
  DEPLOYMENT_COOLDOWN_MS?: string;
  /** "true" enables the /bench routes `npm run bench` compares against; off by default. */
  BENCH_MODE?: string;
  LIMITER_FAILURE_MODE?: string;
  MANAGEMENT_API?: string;
  MANAGEMENT_HOSTNAMES?: string;
  CORS_ORIGINS?: string;
  MAX_BODY_BYTES?: string;
  /** Secrets named by deployments' api_key_secret. */
  [secret: string]: unknown;
  /** Set by `npm run dev` only: enables the documented local master key. */
  EDGEQUOTA_LOCAL_DEV?: string;
}

declare global {
  namespace Cloudflare {
    interface Env extends Bindings {}
  }
}
