import type { BudgetLimit } from "./budget";

/** Per-model limits that apply on top of the owner's own (LiteLLM's model_tpm_limit etc.). */
export interface ModelLimits {
  readonly tpm: number | null;
  readonly rpm: number | null;
  readonly budget: BudgetLimit | null;
}

/**
 * How token windows are reserved for a call. "strict": the prompt's upper bound plus the full output cap, so no
 * window ever exceeds its limit. "adaptive": the prompt's exact count (or a learned calibration of its bound)
 * plus a learned high quantile of this owner's real output lengths, topped up while a stream generates more;
 * windows track real usage closely and may exceed the limit only by what calls generate beyond their estimate.
 * Money is always reserved strictly.
 */
export type ReservationPolicy = "adaptive" | "strict";
export const RESERVATION_POLICIES = ["adaptive", "strict"] as const satisfies readonly ReservationPolicy[];

/**
 * Everything a limiter enforces, whatever owns it (key, team or deployment). null means "no limit".
 * Token counts are tokens, money is nano-dollars, times are ms.
 */
export interface Limits {
  readonly windowMs: number;
  readonly tpm: number | null;
  readonly rpm: number | null;
  readonly maxParallel: number | null;
  readonly budget: BudgetLimit;
  readonly models: Readonly<Record<string, ModelLimits>>;
  /** Output tokens reserved when the client sets no cap (clamped to what the tightest TPM limit can hold). */
  readonly defaultOutputTokens: number;
  /** A reservation never settled by its front door is charged at its estimate after this long. */
  readonly reservationTtlMs: number;
  readonly policy: ReservationPolicy;
  /**
   * Separate input and output token limits per window, as Anthropic counts a deployment's ITPM and OTPM
   * (optional; null = none). The output part of a reservation is sized at the client's cap when outputTpm is
   * set, as the provider estimates it from max_tokens at the start.
   */
  readonly inputTpm?: number | null;
  readonly outputTpm?: number | null;
  /** Whether cache reads count toward inputTpm (older Anthropic models); current models do not count them. */
  readonly inputCountsCacheReads?: boolean;
  /**
   * Windows keep what a call reserved instead of settling to its real usage (never less than the real usage),
   * as OpenAI and Azure OpenAI count a deployment's TPM at request time. Money still settles to real cost.
   */
  readonly keepReservation?: boolean;
  /** How long a call may wait for capacity at this owner when it does not say (max_wait_ms); 0 = answer now. */
  readonly maxWaitMs?: number;
  /** Share of the owner's capacity each priority class is guaranteed under contention (LiteLLM's name). */
  readonly priorityReservation?: Readonly<Record<string, number>> | null;
}

export const UNLIMITED_BUDGET: BudgetLimit = { max: null, soft: null, period: null };
