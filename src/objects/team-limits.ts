import type { Config } from "../config/config";
import type { Limits } from "../limiter";
import type { TeamSettings } from "../schemas/team";
import { budgetLimitOf } from "./key-limits";

/** A team's settings as limits: the same core as keys, without per-model limits. */
export function teamLimits(settings: TeamSettings, config: Config): Limits {
  return {
    windowMs: config.windowMs,
    tpm: settings.tpm_limit,
    rpm: settings.rpm_limit,
    maxParallel: settings.max_parallel_requests,
    budget: budgetLimitOf(settings.max_budget, settings.soft_budget, settings.budget_duration),
    models: {},
    defaultOutputTokens: config.defaultOutputTokens,
    reservationTtlMs: config.reservationTtlMs,
  };
}
