import { NANOS_PER_USD } from "../limiter";

/**
 * A price in USD per `per` tokens as nano-dollars per token. Rounded to 12 significant digits because the float
 * product carries noise (3e-6 * 1e9 is 3000.0000000000005) that costOf's ceiling would turn into an extra nano-dollar.
 */
export function nanosPerToken(usd: number, per = 1): number {
  return Number(((usd * NANOS_PER_USD) / per).toPrecision(12));
}
