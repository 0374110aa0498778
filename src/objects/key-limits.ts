import type { Config } from "../config/config";
import { parsePeriod, usdToNanos, type BudgetLimit, type Limits, type ModelLimits } from "../limiter";
import type { KeySettings } from "../schemas/key";

const nanos = (usd: number | null) => (usd === null ? null : usdToNanos(usd));
const period = (text: string | null) => (text === null ? null : parsePeriod(text));

/** LiteLLM's max_budget / soft_budget (USD) and budget_duration as the core's budget limit; keys and teams alike. */
export function budgetLimitOf(maxUsd: number | null, softUsd: number | null, duration: string | null): BudgetLimit {
  return { max: nanos(maxUsd), soft: nanos(softUsd), period: period(duration) };
}

/** Translates a key's LiteLLM-named settings into what the limiter core enforces. */
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
  const budget = budgetLimitOf(settings.max_budget, settings.soft_budget, settings.budget_duration);
  return {
    windowMs: config.windowMs,
    tpm: settings.tpm_limit,
    rpm: settings.rpm_limit,
    maxParallel: settings.max_parallel_requests,
    budget,
    models,
    defaultOutputTokens: settings.default_output_tokens ?? config.defaultOutputTokens,
    reservationTtlMs: config.reservationTtlMs,
  };
}
