import type { Config } from "../config/config";
import { parsePeriod, UNLIMITED_BUDGET, usdToNanos, type Limits } from "../limiter";
import type { TeamSettings } from "../schemas/team";

/** A team's settings as limits: the same core as keys, without per-model limits. */
export function teamLimits(settings: TeamSettings, config: Config): Limits {
  return {
    windowMs: config.windowMs,
    tpm: settings.tpm_limit,
    rpm: settings.rpm_limit,
    maxParallel: settings.max_parallel_requests,
    budget: settings.max_budget === null && settings.soft_budget === null && settings.budget_duration === null
      ? UNLIMITED_BUDGET
      : {
          max: settings.max_budget === null ? null : usdToNanos(settings.max_budget),
          soft: settings.soft_budget === null ? null : usdToNanos(settings.soft_budget),
          period: settings.budget_duration === null ? null : parsePeriod(settings.budget_duration),
        },
    models: {},
    defaultOutputTokens: config.defaultOutputTokens,
    reservationTtlMs: config.reservationTtlMs,
  };
}
