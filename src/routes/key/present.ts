import { nanosToUsd, type BudgetReport, type Snapshot, type WindowReport } from "../../limiter";
import type { KeyView } from "../../objects/key-object";
import type { KeyInfo, KeyInfoResponse } from "../../schemas/key";

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

function windowUsage(window: WindowReport) {
  return {
    tokens: window.tokens,
    requests: window.requests,
    tpm_limit: window.tokensLimit,
    rpm_limit: window.requestsLimit,
    tokens_reset_ms: window.tokensResetMs,
    requests_reset_ms: window.requestsResetMs,
  };
}

function modelBudget(budget: BudgetReport | null) {
  return {
    spend: budget ? nanosToUsd(budget.spend) : null,
    reserved_spend: budget ? nanosToUsd(budget.reserved) : null,
    budget_limit: budget?.max != null ? nanosToUsd(budget.max) : null,
    budget_reset_at: iso(budget?.resetAt ?? null),
  };
}

/** The live counters admission uses, in LiteLLM's units; the same shape for keys and teams. */
export function liveInfo(snapshot: Snapshot): Pick<KeyInfo, "spend" | "budget_reset_at" | "soft_budget_crossed_at" | "usage"> {
  const models: KeyInfo["usage"]["models"] = {};
  for (const [model, report] of Object.entries(snapshot.models)) {
    models[model] = { window: report.window ? windowUsage(report.window) : null, ...modelBudget(report.budget) };
  }
  return {
    spend: nanosToUsd(snapshot.budget.spend),
    budget_reset_at: iso(snapshot.budget.resetAt),
    soft_budget_crossed_at: iso(snapshot.budget.softCrossedAt),
    usage: {
      window_seconds: snapshot.windowMs / 1000,
      ...windowUsage(snapshot.window),
      in_flight: snapshot.inFlight,
      max_parallel_requests: snapshot.maxParallel,
      reserved_tokens: snapshot.reservedTokens,
      reserved_spend: nanosToUsd(snapshot.budget.reserved),
      models,
    },
  };
}

/** /key/info's `info`: the stored settings plus the live counters admission uses. */
export const keyInfo = ({ record, snapshot }: KeyView): KeyInfo => ({ ...record, ...liveInfo(snapshot) });

export const keyInfoResponse = (view: KeyView): KeyInfoResponse => ({ key: view.record.token, info: keyInfo(view) });
