import { z } from "zod";
import { MAX_USD, parsePeriod, RESERVATION_POLICIES } from "../limiter";

/** Names LiteLLM dashboards show: short, printable. */
export const label = z.string().trim().min(1).max(256);
export const modelName = z.string().min(1).max(256);

const limit = (max: number) => z.number().int("must be a whole number").min(0).max(max);
export const tokenLimit = limit(1e12);
export const requestLimit = limit(1e9);
export const parallelLimit = limit(1e6);
export const usd = z.number().finite().min(0).max(MAX_USD);

/** "30s", "15m", "24h", "30d", "2w", "1mo" as LiteLLM accepts them. */
export const periodText = z
  .string()
  .refine((text) => parsePeriod(text) !== null, { message: 'must be a duration like "30s", "30m", "24h", "30d", "2w" or "1mo"' });

export const metadata = z.record(z.string().max(256), z.json());

export const reservationPolicy = z.enum(RESERVATION_POLICIES);

/** The longest a call may wait for capacity at one owner: five minutes, well inside any client timeout. */
export const MAX_WAIT_MS = 300_000;
export const maxWaitMs = z.number().int().min(0).max(MAX_WAIT_MS);

/**
 * Share of an owner's capacity each priority class is guaranteed under contention (LiteLLM's name), e.g.
 * {"prod": 0.8, "batch": 0.2}; the shares may not add up to more than 1.
 */
export const priorityReservation = z
  .record(label, z.number().min(0).max(1))
  .refine((shares) => Object.values(shares).reduce((sum, share) => sum + share, 0) <= 1 + 1e-9, { message: "the shares add up to more than 1" });

/** The limits keys and teams share, with LiteLLM's names: one definition so both validate them alike. */
export const ownerLimitFields = {
  models: z.array(modelName).max(1000),
  metadata: metadata,
  max_budget: usd.nullable(),
  soft_budget: usd.nullable(),
  budget_duration: periodText.nullable(),
  tpm_limit: tokenLimit.nullable(),
  rpm_limit: requestLimit.nullable(),
  max_parallel_requests: parallelLimit.nullable(),
  /** How token windows are reserved: "adaptive" (the default) or "strict"; see Limits in src/limiter/limits.ts. */
  reservation_policy: reservationPolicy,
  blocked: z.boolean(),
  /** How long a call may wait for capacity here when it does not say (x-edgequota-max-wait-ms); 0 = answer now. */
  max_wait_ms: maxWaitMs.nullable(),
  /** Fractions of max_budget whose crossing sends a budget_threshold alert, e.g. [0.5, 0.8, 0.95]. */
  alert_thresholds: z.array(z.number().gt(0).max(1)).max(10).nullable(),
};

/** Their values when not given: no limits, every model. */
export const OWNER_LIMIT_DEFAULTS = {
  models: [],
  metadata: {},
  max_budget: null,
  soft_budget: null,
  budget_duration: null,
  tpm_limit: null,
  rpm_limit: null,
  max_parallel_requests: null,
  reservation_policy: "adaptive",
  blocked: false,
  max_wait_ms: null,
  alert_thresholds: null,
} satisfies { [K in keyof typeof ownerLimitFields]: z.infer<(typeof ownerLimitFields)[K]> };
