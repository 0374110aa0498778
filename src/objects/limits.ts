import type { Config } from "../config/config";
import type { Deployment } from "../config/deployments";
import { parsePeriod, UNLIMITED_BUDGET, usdToNanos, type BudgetLimit, type Limits, type ModelLimits } from "../limiter";
import type { KeySettings } from "../schemas/key";
import type { TeamSettings } from "../schemas/team";

/**
 * Every owner's settings translated into what the limiter core enforces, in one place: keys and teams use
 * LiteLLM's field names, deployments the DEPLOYMENTS entries.
 */

const nanos = (usd: number | null) => (usd === null ? null : usdToNanos(usd));
const period = (text: string | null) => (text === null ? null : parsePeriod(text));

/** LiteLLM's max_budget / soft_budget (USD) and budget_duration as the core's budget limit. */
export function budgetLimitOf(maxUsd: number | null, softUsd: number | null, duration: string | null): BudgetLimit {
  return { max: nanos(maxUsd), soft: nanos(softUsd), period: period(duration) };
}

export function keyLimits(settings: KeySettings, config: Config): Limits {
  const models: Record<string, ModelLimits> = {};
  const names = new Set([
    ...Object.keys(settings.model_tpm_limit),
    ...Object.keys(settings.model_rpm_limit),
    ...Object.keys(settings.model_max_budget),
  ]);
  for (const model of names) {
    const budget = settings.model_max_budget[model];
    models[model] = {
      tpm: settings.model_tpm_limit[model] ?? null,
      rpm: settings.model_rpm_limit[model] ?? null,
      budget: budget ? budgetLimitOf(budget.budget_limit, null, budget.time_period) : null,
    };
  }
  return { ...teamLimits(settings, config), models, defaultOutputTokens: settings.default_output_tokens ?? config.defaultOutputTokens };
}

/** The limit fields keys and teams share (LiteLLM's names); keys add per-model limits and their default output. */
type OwnerLimitSettings = Pick<TeamSettings, "tpm_limit" | "rpm_limit" | "max_parallel_requests" | "max_budget" | "soft_budget" | "budget_duration" | "reservation_policy"> &
  Partial<Pick<TeamSettings, "max_wait_ms" | "priority_reservation">>;

export function teamLimits(settings: OwnerLimitSettings, config: Config): Limits {
  return {
    windowMs: config.windowMs,
    tpm: settings.tpm_limit,
    rpm: settings.rpm_limit,
    maxParallel: settings.max_parallel_requests,
    budget: budgetLimitOf(settings.max_budget, settings.soft_budget, settings.budget_duration),
    models: {},
    defaultOutputTokens: config.defaultOutputTokens,
    reservationTtlMs: config.reservationTtlMs,
    // Records stored before policies existed carry none: they get the default.
    policy: settings.reservation_policy ?? "adaptive",
    maxWaitMs: settings.max_wait_ms ?? 0,
    priorityReservation: settings.priority_reservation ?? null,
  };
}

/** An end user has the limits keys and teams share, applied to every call made for it through any key. */
export function endUserLimits(settings: OwnerLimitSettings, config: Config): Limits {
  return teamLimits(settings, config);
}

/**
 * A deployment counts tokens and requests only (money is the keys' and teams' business), the way its provider
 * counts them: separate input and output limits (Anthropic), or kept at request time (OpenAI, Azure OpenAI).
 */
export function deploymentLimits(deployment: Deployment | undefined, config: Config): Limits {
  const requestTime = deployment?.tpm_counting === "request_time";
  return {
    windowMs: config.windowMs,
    tpm: deployment?.tpm ?? null,
    rpm: deployment?.rpm ?? null,
    maxParallel: null,
    budget: UNLIMITED_BUDGET,
    models: {},
    defaultOutputTokens: config.defaultOutputTokens,
    reservationTtlMs: config.reservationTtlMs,
    policy: requestTime ? "strict" : (deployment?.reservation_policy ?? "adaptive"),
    inputTpm: deployment?.itpm ?? null,
    outputTpm: deployment?.otpm ?? null,
    inputCountsCacheReads: deployment?.itpm_counts_cache_reads === true,
    keepReservation: requestTime,
    maxWaitMs: deployment?.max_wait_ms ?? 0,
    priorityReservation: deployment?.priority_reservation ?? null,
  };
}

/** Empty allow-list means every model; entries ending in "*" match a prefix ("openai/*"). */
export function modelAllowed(models: readonly string[], model: string): boolean {
  if (models.length === 0) return true;
  return models.some((allowed) =>
    allowed === model || allowed === "all-proxy-models" || (allowed.endsWith("*") && model.startsWith(allowed.slice(0, -1))),
  );
}
