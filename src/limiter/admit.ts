import { fits, remaining } from "./budget";
import { durationEstimate, MIN_SAMPLES, outputEstimate as learnedOutput, outputMoments, promptEstimate } from "./estimates";
import { quantile, sampleCount } from "./sketch";
import { advance, worstCost, type Admission, type AdmissionRequest } from "./limiter";
import type { Limits } from "./limits";
import { budgetRejection, parallelHint, pickWorst, windowRejection, type Rejection } from "./rejections";
import { budgetFor, budgetLimitFor, ownModelLimits } from "./scopes";
import { heldIn } from "./portions";
import { budgetEntry, INPUT, modelScope, OUTPUT, reservationEntry, slotsInUse, WHOLE, windowEntry, type LimiterState, type Reservation } from "./state";
import { bucketTime, charge, usage, waitFor } from "./window";

/** What one call reserves: tokens in every window scope, money at its worst case. */
interface Sizing {
  readonly tokens: number;
  /** How much the call's real output may vary around its (mean) reservation; 0 when reserved at its cap. */
  readonly variance: number;
  /** The part of `tokens` held for the prompt; the rest is for output. */
  readonly prompt: number;
  /** null when the call cannot be costed (no price). */
  readonly cost: number | null;
}

/**
 * Reserves for one call, or explains exactly why it cannot be admitted now. Tokens are sized by the owner's
 * reservation policy; money always at the worst case (the prompt's upper bound plus the full output cap).
 */
export function admit(state: LimiterState, limits: Limits, request: AdmissionRequest, clock: number): Admission {
  // Replacing a live reservation would strand its reserved tokens and money; ids must be unique per call.
  if (state.reservations.has(request.requestId)) throw new Error(`reservation ${request.requestId} is already in flight`);
  const { now } = advance(state, limits, clock);
  const modelLimits = ownModelLimits(limits, request.model);
  const tokenLimits = [limits.tpm, modelLimits?.tpm ?? null].filter((limit): limit is number => limit !== null);
  const { tokens, prompt, cost, variance } = size(state, limits, request, tokenLimits);

  const windowScopes = [WHOLE];
  if (modelLimits && (modelLimits.tpm !== null || modelLimits.rpm !== null)) windowScopes.push(modelScope(request.model));
  const inputTpm = limits.inputTpm ?? null;
  const outputTpm = limits.outputTpm ?? null;
  if (inputTpm !== null) windowScopes.push(INPUT);
  if (outputTpm !== null) windowScopes.push(OUTPUT);
  // A prompt above the input limit whose lower bound fits is held at the limit: admitted alone, like tokens.
  const lowerBound = request.promptLowerBound ?? (request.promptExact ? request.promptTokens : 0);
  const inputTokens = inputTpm !== null && prompt > inputTpm && lowerBound <= inputTpm ? inputTpm : prompt;
  const budgetScopes = [WHOLE];
  if (modelLimits?.budget) budgetScopes.push(modelScope(request.model));

  const rejections: Rejection[] = [];
  if (limits.maxParallel !== null && slotsInUse(state) + 1 > limits.maxParallel) {
    rejections.push({
      name: "parallel_requests",
      reason: limits.maxParallel === 0 ? "too_large" : "limit",
      model: null,
      limit: limits.maxParallel,
      remaining: Math.max(0, limits.maxParallel - slotsInUse(state)),
      requested: 1,
      retryAfterMs: limits.maxParallel === 0 ? null : parallelHint(state, now),
    });
  }
  for (const [scope, limit, name] of [[INPUT, inputTpm, "input_tokens"], [OUTPUT, outputTpm, "output_tokens"]] as const) {
    if (limit === null) continue;
    const window = state.windows.get(scope) ?? { buckets: [] };
    const need = heldIn(scope, { tokens, promptTokens: Math.min(prompt, tokens), inputTokens });
    const wait = waitFor(window, "tokens", need, limit, now, limits.windowMs);
    if (wait !== 0) rejections.push(windowRejection(name, null, limit, usage(window).tokens, need, wait));
  }
  for (const scope of windowScopes) {
    if (scope === INPUT || scope === OUTPUT) continue;
    const model = scope === WHOLE ? null : request.model;
    const rpm = model === null ? limits.rpm : (modelLimits?.rpm ?? null);
    const tpm = model === null ? limits.tpm : (modelLimits?.tpm ?? null);
    const window = state.windows.get(scope) ?? { buckets: [] };
    const used = usage(window);
    if (rpm !== null) {
      const wait = waitFor(window, "requests", 1, rpm, now, limits.windowMs);
      if (wait !== 0) rejections.push(windowRejection("requests", model, rpm, used.requests, 1, wait));
    }
    if (tpm !== null) {
      // The pooled margin is headroom, never what makes a request too large.
      const need = tokens >= tpm ? tokens : Math.min(tpm, tokens + pooledMargin(state, scope, variance));
      const wait = waitFor(window, "tokens", need, tpm, now, limits.windowMs);
      if (wait !== 0) rejections.push(tokenRejection(state, scope, model, tpm, used.tokens, need, wait, now));
    }
  }
  for (const scope of budgetScopes) {
    const limit = budgetLimitFor(limits, scope);
    if (!limit || limit.max === null) continue;
    const model = scope === WHOLE ? null : request.model;
    const budget = budgetFor(state, limits, scope, now);
    if (cost === null) {
      rejections.push({ name: "budget", reason: "price_unknown", model, limit: limit.max, remaining: remaining(budget, limit), requested: 0, retryAfterMs: null });
    } else if (!fits(budget, limit, cost)) {
      rejections.push(budgetRejection(state, budget, limit, model, cost, now));
    }
  }
  const worst = pickWorst(rejections);
  if (worst) return { ok: false, rejection: worst };

  const reservation: Reservation = {
    requestId: request.requestId,
    model: request.model,
    admittedAt: now,
    bucket: bucketTime(now, limits.windowMs),
    tokens,
    promptTokens: Math.min(prompt, tokens),
    ...(inputTpm !== null ? { inputTokens } : {}),
    ...(variance > 0 ? { variance } : {}),
    cost: cost ?? 0,
    ...(request.endUser ? { endUser: request.endUser } : {}),
    expiresAt: now + limits.reservationTtlMs,
    windows: windowScopes,
    budgets: budgetScopes,
    promptBound: request.promptTokens,
    promptExact: request.promptExact === true,
  };
  for (const scope of windowScopes) {
    let window = state.windows.get(scope);
    if (!window) state.windows.set(scope, (window = { buckets: [] }));
    charge(window, reservation.bucket, heldIn(scope, reservation), 1);
    state.changed.add(windowEntry(scope, reservation.bucket));
  }
  for (const scope of budgetScopes) {
    budgetFor(state, limits, scope, now).reserved += reservation.cost;
    state.changed.add(budgetEntry(scope));
  }
  state.reservations.set(reservation.requestId, reservation);
  state.changed.add(reservationEntry(reservation.requestId));
  return { ok: true, reservation };
}

/**
 * How many standard deviations of the summed output of the calls in flight (this one included) admission keeps
 * free on top of their mean reservations: the sum of many calls varies far less than each call does, so one
 * pooled margin holds back much less than a high quantile per call while overruns stay as rare.
 */
export const POOLED_MARGIN_SIGMAS = 2;

/** The pooled headroom a scope's in-flight calls (plus a new one of `variance`) need beyond their reservations. */
function pooledMargin(state: LimiterState, scope: string, variance: number): number {
  let total = variance;
  for (const reservation of state.reservations.values()) if (reservation.variance && reservation.windows.includes(scope)) total += reservation.variance;
  return Math.ceil(POOLED_MARGIN_SIGMAS * Math.sqrt(total));
}

/**
 * Tokens and money one call reserves. Strict: the prompt's upper bound plus the full output cap. Adaptive: the
 * prompt's exact count or its calibrated bound, plus this owner's learned mean output for the model, its
 * variance pooled with the other calls in flight (the cap until it has samples, or when the cap is lower).
 * A request whose estimate exceeds the tightest token limit while its lower bound fits is reserved at that
 * limit, so it waits for an empty window and is then admitted alone (adaptive only: strict must be able to
 * prove the call fits).
 */
function size(state: LimiterState, limits: Limits, request: AdmissionRequest, tokenLimits: number[]): Sizing {
  const strictOutput = outputBound(limits.defaultOutputTokens, request, tokenLimits);
  const cost = request.price ? worstCost(request.price, request.promptTokens, strictOutput, request.cacheWrites === true) : null;
  if (limits.policy === "strict") return { tokens: request.promptTokens + strictOutput, prompt: request.promptTokens, variance: 0, cost };
  const prompt = request.promptExact ? request.promptTokens : promptEstimate(state.estimates, request.model, request.promptTokens).tokens;
  const learned = outputMoments(state.estimates, request.model);
  const cap = request.maxOutputTokens ?? Number.POSITIVE_INFINITY;
  // A provider counting output separately estimates it from the cap at the start (Anthropic's OTPM): so do we.
  const pooled = learned !== null && Math.ceil(learned.mean) < cap && (limits.outputTpm ?? null) === null;
  const output = pooled
    ? Math.ceil(learned.mean)
    : (limits.outputTpm ?? null) !== null
      ? strictOutput
      : learnedOutput(state.estimates, request.model, request.maxOutputTokens, strictOutput).tokens;
  const variance = pooled ? learned.variance : 0;
  const tokens = prompt + output;
  const tightest = Math.min(...tokenLimits);
  const lowerBound = request.promptLowerBound ?? (request.promptExact ? request.promptTokens : 0);
  if (tokens > tightest && lowerBound <= tightest) return { tokens: tightest, prompt, variance: 0, cost };
  return { tokens, prompt, variance, cost };
}

/**
 * The output a call may produce: the client's cap, or without one the configured default, never so much that
 * the prompt plus the estimate could not fit an empty window (the "1024-token floor" failure mode).
 */
export function outputBound(defaultOutputTokens: number, request: Pick<AdmissionRequest, "maxOutputTokens" | "promptTokens">, tokenLimits: readonly number[]): number {
  if (request.maxOutputTokens !== null) return request.maxOutputTokens;
  const room = Math.min(...tokenLimits.map((limit) => limit - request.promptTokens));
  return Math.max(0, Math.min(defaultOutputTokens, room));
}

/** A hint sooner than this is a retry storm waiting to happen; a quarter of a typical call is the floor. */
const MIN_IN_FLIGHT_HINT_MS = 50;

/**
 * A token limit that tripped. When calls in flight hold the room this request needs (their reservations, not
 * usage that already happened), say so, and hint when enough of it is expected back: each in-flight call is
 * expected to end a typical call duration after its admission (never sooner than a quarter of one from now)
 * and to give back what it reserved above a typical use (its prompt plus the model's median output). Without
 * a history of call durations, or when the expected give-back would not make room, the exact window wait stands.
 */
function tokenRejection(state: LimiterState, scope: string, model: string | null, limit: number, used: number, requested: number, wait: number | null, now: number): Rejection {
  const rejection = windowRejection("tokens", model, limit, used, requested, wait);
  const typical = durationEstimate(state.estimates, 0.5);
  if (wait === null || typical === null) return rejection;
  const returns: Array<{ at: number; tokens: number }> = [];
  let held = 0;
  for (const reservation of state.reservations.values()) {
    if (!reservation.windows.includes(scope)) continue;
    held += reservation.tokens;
    const output = typicalOutput(state, reservation.model);
    const expectedUse = output === null ? reservation.tokens : Math.min(reservation.tokens, (reservation.promptTokens ?? reservation.tokens) + output);
    returns.push({ at: Math.max(reservation.admittedAt + typical, now + typical / 4), tokens: reservation.tokens - expectedUse });
  }
  if (returns.length === 0) return rejection;
  returns.sort((a, b) => a.at - b.at);
  let excess = used + requested - limit;
  for (const back of returns) {
    excess -= back.tokens;
    if (excess > 0) continue;
    const hint = Math.max(MIN_IN_FLIGHT_HINT_MS, Math.ceil(back.at - now));
    if (hint >= wait) return rejection;
    return { ...rejection, inFlight: { calls: returns.length, tokens: held }, retryAfterMs: hint };
  }
  return rejection;
}

/** The model's median real output, once learned; null before. */
function typicalOutput(state: LimiterState, model: string): number | null {
  const sketch = state.estimates.models.get(model)?.output;
  return sketch && sampleCount(sketch) >= MIN_SAMPLES ? quantile(sketch, 0.5) : null;
}
