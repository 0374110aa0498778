/**
 * LiteLLM-style durations ("30s", "15m", "24h", "30d", "2w", "1mo").
 * Months are calendar months so a "1mo" budget resets on the same day each month, as LiteLLM users expect.
 */
export type PeriodUnit = "s" | "m" | "h" | "d" | "w" | "mo";
export interface Period {
  readonly amount: number;
  readonly unit: PeriodUnit;
}

const PATTERN = /^([1-9][0-9]{0,5})(s|m|h|d|w|mo)$/;
const UNIT_MS: Record<Exclude<PeriodUnit, "mo">, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
/** Longest accepted period: ten years keeps every computed timestamp far inside Date's range. */
const MAX_PERIOD_MS = 10 * 366 * 86_400_000;

export function parsePeriod(text: string): Period | null {
  const match = PATTERN.exec(text.trim());
  if (!match) return null;
  const period: Period = { amount: Number(match[1]), unit: match[2] as PeriodUnit };
  const span = period.unit === "mo" ? period.amount * 31 * 86_400_000 : period.amount * UNIT_MS[period.unit];
  return span <= MAX_PERIOD_MS ? period : null;
}

/** The instant one period after `from` (ms since epoch). */
export function addPeriod(from: number, period: Period): number {
  if (period.unit !== "mo") return from + period.amount * UNIT_MS[period.unit];
  const date = new Date(from);
  const day = date.getUTCDate();
  date.setUTCDate(1);
  date.setUTCMonth(date.getUTCMonth() + period.amount);
  // Clamp to the month's last day so Jan 31 + 1mo is Feb 28/29, not Mar 3.
  const lastDay = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
  date.setUTCDate(Math.min(day, lastDay));
  return date.getTime();
}

/** The first boundary of the schedule `start, start+p, start+2p, ...` that lies strictly after `now`. */
export function nextBoundaryAfter(start: number, period: Period, now: number): number {
  let next = start;
  if (period.unit === "mo") {
    // Calendar months are counted from `start` (start + k months), never chained: chaining from a clamped Feb 28
    // would move every later boundary of a Jan 31 schedule to the 28th.
    for (let k = 1; next <= now; k++) next = addPeriod(start, { amount: period.amount * k, unit: "mo" });
    return next;
  }
  // Fixed-length periods jump straight there; the loop only walks the remainder.
  if (next <= now) {
    const span = addPeriod(0, period);
    next += Math.floor((now - next) / span) * span;
  }
  while (next <= now) next = addPeriod(next, period);
  return next;
}
