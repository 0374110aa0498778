import type { AlertEvent, AlertType, OwnerKind } from "../alerts/event";
import { nanosToUsd, type Budget, type BudgetLimit } from "../limiter";
import type { AlertOutbox } from "./alert-outbox";

const STATE = "alerts/emitted";

/** Who an alert is about, as its receivers see it. */
export interface AlertOwner {
  readonly kind: OwnerKind;
  readonly id: string;
  readonly alias: string | null;
  readonly team_id: string | null;
}

/** The budget figures an alert carries, in USD and ISO times. */
function figures(budget: Budget | undefined, limit: BudgetLimit): AlertEvent["figures"] {
  return {
    spend: nanosToUsd(budget?.spend ?? 0),
    max_budget: limit.max === null ? null : nanosToUsd(limit.max),
    soft_budget: limit.soft === null ? null : nanosToUsd(limit.soft),
    budget_reset_at: budget?.resetAt ? new Date(budget.resetAt).toISOString() : null,
  };
}

/**
 * Decides when an owner's alerts happen, exactly once each: a threshold of max_budget or the soft budget crossed
 * in a budget period, the first budget refusal of a period, a reset, and the one-off events its subclass reports.
 * What was already emitted is remembered per period in storage, so conditions can simply be re-checked after every
 * operation; the event's id is derived from the same facts, so a re-send carries the same id.
 */
export class BudgetAlerts {
  /** Per event kind (type, or type:threshold), the period (the budget's reset instant) it was emitted for. */
  private emitted: Record<string, string>;

  constructor(
    private readonly storage: DurableObjectStorage,
    readonly outbox: AlertOutbox,
  ) {
    this.emitted = storage.kv.get<Record<string, string>>(STATE) ?? {};
  }

  /** After spend may have moved: thresholds, the soft budget and a reset, each once per period. */
  checkBudget(owner: AlertOwner, budget: Budget | undefined, limit: BudgetLimit, thresholds: readonly number[], now: number): void {
    const period = String(budget?.resetAt ?? "none");
    const previous = this.emitted.period;
    if (previous !== undefined && previous !== period && previous !== "none") {
      this.emit(owner, "budget_reset", "budget_reset", previous, figures(budget, limit), now);
    }
    this.remember("period", period);
    const spend = budget?.spend ?? 0;
    if (limit.soft !== null && spend >= limit.soft) this.once(owner, "soft_budget_crossed", "soft_budget_crossed", period, figures(budget, limit), now);
    if (limit.max === null) return;
    for (const threshold of thresholds) {
      if (spend < threshold * limit.max) continue;
      this.once(owner, "budget_threshold", `budget_threshold:${threshold}`, period, { ...figures(budget, limit), threshold }, now);
    }
  }

  /** The first budget refusal of a period. */
  budgetExceeded(owner: AlertOwner, budget: Budget | undefined, limit: BudgetLimit, now: number): void {
    this.once(owner, "budget_exceeded", "budget_exceeded", String(budget?.resetAt ?? "none"), figures(budget, limit), now);
  }

  /** A one-off event (key_blocked, key_expired, deployment_cooldown); `instance` makes its id unique. */
  event(owner: AlertOwner, type: AlertType, instance: string, extra: AlertEvent["figures"], now: number): void {
    this.once(owner, type, type, instance, extra, now);
  }

  private once(owner: AlertOwner, type: AlertType, kind: string, period: string, facts: AlertEvent["figures"], now: number): void {
    if (this.emitted[kind] === period) return;
    this.remember(kind, period);
    this.emit(owner, type, kind, period, facts, now);
  }

  private emit(owner: AlertOwner, type: AlertType, kind: string, period: string, facts: AlertEvent["figures"], now: number): void {
    const event: AlertEvent = {
      id: `${owner.kind}:${owner.id}:${kind}:${period}`,
      type,
      at: new Date(now).toISOString(),
      owner: { kind: owner.kind, id: owner.id, alias: owner.alias, team_id: owner.team_id },
      figures: facts,
    };
    this.outbox.emit(event, now);
  }

  private remember(kind: string, period: string): void {
    if (this.emitted[kind] === period) return;
    this.emitted = { ...this.emitted, [kind]: period };
    this.storage.kv.put(STATE, this.emitted);
  }

  clear(): void {
    this.emitted = {};
    this.storage.kv.delete(STATE);
  }
}
