/**
 * Money is counted in integer nano-dollars so that spend is an exact sum of per-request costs: a float running
 * total drifts, and "spend log sums to spend" must hold to the last digit.
 */
export const NANOS_PER_USD = 1_000_000_000;
/** The largest budget whose nano-dollar count is still an exact JavaScript integer, rounded down. */
export const MAX_USD = 9_000_000;

export function usdToNanos(usd: number): number {
  return Math.round(usd * NANOS_PER_USD);
}

export function nanosToUsd(nanos: number): number {
  return nanos / NANOS_PER_USD;
}
