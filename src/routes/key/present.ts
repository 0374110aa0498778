import { MIN_SAMPLES, nanosToUsd, type BudgetReport, type EstimatesReport, type Snapshot, type WindowReport } from "../../limiter";
import type { KeyView, View } from "../../objects/protocol";
import type { KeyInfo, KeyInfoResponse } from "../../schemas/key";

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

/** A window in the management API's names (key, team, end user and deployment answers alike). */
export function windowUsage(window: WindowReport) {
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

function learnedInfo(learned: EstimatesReport): KeyInfo["usage"]["learned"] {
  return {
    models: learned.models.map((model) => ({
      model: model.model,
      output_samples: model.outputSamples,
      output_p50: model.outputP50,
      output_p95: model.outputP95,
      output_estimate: model.outputSamples >= MIN_SAMPLES ? model.outputMean : null,
      prompt_samples: model.promptSamples,
      prompt_ratio_p99: model.promptRatioP99,
      prompt_bound_broken_at: iso(model.promptBoundBrokenAt),
    })),
    call_duration_ms: { samples: learned.duration.samples, p50: learned.duration.p50Ms, p95: learned.duration.p95Ms },
  };
}

/** The live counters admission uses, in LiteLLM's units; the same shape for keys and teams. */
export function liveInfo(
  { snapshot, learned, queue, refusals }: Pick<View<unknown>, "snapshot" | "learned" | "queue" | "refusals">,
): Pick<KeyInfo, "spend" | "budget_reset_at" | "soft_budget_crossed_at" | "usage"> {
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
      reservation_policy: snapshot.policy,
      queue: { length: queue.length, oldest_wait_ms: queue.oldestWaitMs },
      leased: {
        leases: snapshot.leased.leases,
        tokens: snapshot.leased.tokens,
        requests: snapshot.leased.requests,
        parallel_slots: snapshot.leased.slots,
        spend: nanosToUsd(snapshot.leased.cost),
      },
      refusals: Object.fromEntries(Object.entries(refusals).map(([reason, { count, last_at }]) => [reason, { count, last_at: iso(last_at)! }])),
      learned: learnedInfo(learned),
      models,
    },
  };
}

/** /key/info's `info`: the stored settings plus the live counters admission uses. */
export const keyInfo = (view: KeyView): KeyInfo => ({ ...view.record, ...liveInfo(view) });

export const keyInfoResponse = (view: KeyView): KeyInfoResponse => ({ key: view.record.token, info: keyInfo(view) });
