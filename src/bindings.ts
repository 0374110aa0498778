/**
 * What wrangler binds: Durable Object namespaces, plain-text vars and secrets (always strings). The namespaces
 * are untyped here so this root module imports nothing; src/stubs gives each object its typed client.
 */
export interface Bindings {
  KEYS: DurableObjectNamespace;
  TEAMS: DurableObjectNamespace;
  DEPLOYMENTS_LIMITS: DurableObjectNamespace;
  DIRECTORY: DurableObjectNamespace;
  END_USERS: DurableObjectNamespace;
  /** Analytics Engine dataset every ended call writes one data point to (src/observability); absent = logs only. */
  ANALYTICS?: AnalyticsEngineDataset;
  /** The alert queue the owner objects send their events to (src/alerts); absent in a Worker without it. */
  ALERTS?: Queue;
  MASTER_KEY?: string;
  UPSTREAM_BASE_URL?: string;
  UPSTREAM_API_KEY?: string;
  UPSTREAM_TIMEOUT_MS?: string;
  RATE_LIMIT_WINDOW_SECONDS?: string;
  RESERVATION_TTL_MS?: string;
  DEFAULT_OUTPUT_TOKENS?: string;
  MODEL_PRICES?: string;
  DEPLOYMENTS?: string;
  END_USER_DEFAULTS?: string;
  MODEL_TOKENIZERS?: string;
  DEPLOYMENT_COOLDOWN_MS?: string;
  LIMITER_FAILURE_MODE?: string;
  MANAGEMENT_API?: string;
  MANAGEMENT_HOSTNAMES?: string;
  CORS_ORIGINS?: string;
  MAX_BODY_BYTES?: string;
  /** Where the alert queue's consumer posts each event; unset = events are logged, not posted. */
  ALERT_WEBHOOK_URL?: string;
  /** Secret (wrangler secret put) the webhook body is signed with (x-edgequota-signature). */
  ALERT_WEBHOOK_SECRET?: string;
  /** "json" (default: the event itself) or "slack" (Slack incoming-webhook message). */
  ALERT_FORMAT?: string;
  /** Retry backoff of a refused delivery: base * 2^(attempts-1) seconds, at most 300 (default 2). */
  ALERT_RETRY_BASE_SECONDS?: string;
  LEASES?: string;
  LEASE_MS?: string;
  LEASE_MIN_FREE_PERCENT?: string;
  LEASE_SHARE_PERCENT?: string;
  LEASE_MIN_RATE?: string;
  LEASE_MARGIN_MS?: string;
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
