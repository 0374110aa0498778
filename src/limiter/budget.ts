import { nextBoundaryAfter, type Period } from "./period";

/** A money limit. Amounts are nano-dollars (see money.ts). */
export interface BudgetLimit {
  /** Hard cap; null means spend is tracked but never blocks. */
  readonly max: number | null;
  /** Alert threshold: crossing it is recorded, never enforced. */
  readonly soft: number | null;
  /** Spend returns to 0 every period; null means it never resets. */
  readonly period: Period | null;
}

export interface Budget {
  spend: number;
  /** Worst-case cost of in-flight reservations. */
  reserved: number;
  /** Next reset instant (ms), or null when the budget never resets. */
  resetAt: number | null;
  /**
   * Start of the reset schedule: resets fall on anchor + k periods. Kept so calendar months never drift (a
   * budget started on Jan 31 resets on Feb 28, then Mar 31, not Mar 28). Absent in budgets stored before it
   * existed; those use resetAt as their anchor.
   */
  anchor?: number;
  softCrossedAt: number | null;
}

export function newBudget(limit: BudgetLimit, now: number): Budget {
  return {
    spend: 0,
    reserved: 0,
    resetAt: limit.period ? nextBoundaryAfter(now, limit.period, now) : null,
    anchor: now,
    softCrossedAt: null,
  };
}

/**
 * Applies every reset due at `now`. Checked on every access, so a late or lost alarm changes nothing.
 * Returns true when the budget changed.
 */
export function rollOver(budget: Budget, limit: BudgetLimit, now: number): boolean {
  if (!limit.period) {
    if (budget.resetAt === null) return false;
    budget.resetAt = null;
    return true;
  }
  if (budget.resetAt === null) {
    budget.anchor = now;
    budget.resetAt = nextBoundaryAfter(now, limit.period, now);
    return true;
  }
  if (now < budget.resetAt) return false;
  budget.spend = 0;
  budget.softCrossedAt = null;
  budget.resetAt = nextBoundaryAfter(budget.anchor ?? budget.resetAt, limit.period, now);
  return true;
}

/** What may still be reserved before the hard cap; Infinity without one. */
export function remaining(budget: Budget, limit: BudgetLimit): number {
  if (limit.max === null) return Number.POSITIVE_INFINITY;
  return Math.max(0, limit.max - budget.spend - budget.reserved);
}

export function fits(budget: Budget, limit: BudgetLimit, cost: number): boolean {
  return limit.max === null || budget.spend + budget.reserved + cost <= limit.max;
}

/** Books real cost after a call, and records the first crossing of the soft budget in this period. */
export function addSpend(budget: Budget, limit: BudgetLimit, cost: number, now: number): void {
  budget.spend += cost;
  if (limit.soft !== null && budget.softCrossedAt === null && budget.spend >= limit.soft) budget.softCrossedAt = now;
}
