import type { Limits } from "./limits";
import { INPUT, OUTPUT, type Reservation } from "./state";

/**
 * What one call counts in each window scope. The owner's own and per-model windows count the whole call; the
 * INPUT and OUTPUT windows (inputTpm / outputTpm) count only its prompt or only its output, the way Anthropic
 * counts ITPM and OTPM. Kept apart from limiter.ts so admission, settlement and top-ups share one rule.
 */

type Held = Pick<Reservation, "tokens" | "promptTokens" | "inputTokens">;

/** The part of a call's real usage one scope counts; `split` is the upstream's own report when there is one. */
export interface UsedTokens {
  readonly tokens: number;
  readonly prompt?: number;
  readonly completion?: number;
  readonly cacheRead?: number;
}

/** What a reservation holds in `scope`. */
export function heldIn(scope: string, reservation: Held): number {
  const prompt = reservation.promptTokens ?? reservation.tokens;
  if (scope === INPUT) return reservation.inputTokens ?? prompt;
  if (scope === OUTPUT) return Math.max(0, reservation.tokens - prompt);
  return reservation.tokens;
}

/**
 * What a call that ended with `used` counts in `scope`. Without the upstream's split (charged at its estimate,
 * or released) the usage divides like the reservation did. Cache reads leave the input window unless the owner
 * counts them (Anthropic counts them toward ITPM only for older models).
 */
export function usedIn(scope: string, reservation: Held, used: UsedTokens, limits: Limits): number {
  if (scope !== INPUT && scope !== OUTPUT) return used.tokens;
  if (used.prompt !== undefined && used.completion !== undefined) {
    if (scope === OUTPUT) return used.completion;
    const read = limits.inputCountsCacheReads ? 0 : Math.min(used.cacheRead ?? 0, used.prompt);
    return used.prompt - read;
  }
  const prompt = reservation.promptTokens ?? reservation.tokens;
  if (scope === OUTPUT) return Math.max(0, used.tokens - prompt);
  return Math.min(used.tokens, heldIn(INPUT, reservation));
}
