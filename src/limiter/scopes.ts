import { newBudget, type Budget, type BudgetLimit } from "./budget";
import { UNLIMITED_BUDGET, type Limits } from "./limits";
import { budgetEntry, modelOfScope, WHOLE, type LimiterState } from "./state";

/** The budget limit of a scope: the owner's own (WHOLE) or a model's. */
export function budgetLimitFor(limits: Limits, scope: string): BudgetLimit | null {
  if (scope === WHOLE) return limits.budget;
  return ownModelLimits(limits, modelOfScope(scope))?.budget ?? null;
}

/** Own entries only: a model named "constructor" or "__proto__" must not pick up Object.prototype members. */
export function ownModelLimits(limits: Limits, model: string): Limits["models"][string] | undefined {
  return Object.hasOwn(limits.models, model) ? limits.models[model] : undefined;
}

/** A scope's budget, created (and marked for storage) on first use. */
export function budgetFor(state: LimiterState, limits: Limits, scope: string, now: number): Budget {
  let budget = state.budgets.get(scope);
  if (!budget) {
    budget = newBudget(budgetLimitFor(limits, scope) ?? UNLIMITED_BUDGET, now);
    state.budgets.set(scope, budget);
    state.changed.add(budgetEntry(scope));
  }
  return budget;
}
