import { admit } from "./admit";
import { cancel, type AdmissionRequest } from "./limiter";
import type { Limits } from "./limits";
import type { Rejection } from "./rejections";
import type { LimiterState, Reservation } from "./state";

/**
 * Waiting instead of 429: calls that may wait are queued at their owner and admitted the moment their reservation
 * fits, in an order that is fair and honours priorities. Pure: the owner object keeps the queue in memory (its
 * waiters are live calls), runs `drain` whenever capacity may have freed (a settlement, a release, a timer at
 * `nextWakeAt`), and delivers the answers.
 */

export interface Waiter {
  readonly request: AdmissionRequest;
  readonly enqueuedAt: number;
  /** The latest instant the call may still be admitted; past it, it leaves with its last refusal. */
  readonly deadline: number;
  /** Fairness unit: the key a call comes from. A team's waiting keys are served max-min fairly. */
  readonly share: string;
  /** The key's priority class (e.g. "prod"), or null for none. */
  readonly priority: string | null;
}

export interface Queue {
  waiters: Waiter[];
  /** Tokens (at least 1 per call) admitted per share and per priority since the queue last emptied. */
  readonly served: Map<string, number>;
  readonly servedByPriority: Map<string, number>;
}

/** A queue bounds its waiters and what they would reserve together, so it cannot hold an owner hostage. */
export const MAX_WAITERS = 256;
/** Total tokens queued, in windows' worth of the owner's tightest token limit. */
export const MAX_QUEUED_WINDOWS = 4;

export function emptyQueue(): Queue {
  return { waiters: [], served: new Map(), servedByPriority: new Map() };
}

export type Arrival =
  | { readonly kind: "admitted"; readonly reservation: Reservation }
  | { readonly kind: "queued" }
  /** Refused now: it does not fit and waiting would not help within its bound (or it may not wait). */
  | { readonly kind: "rejected"; readonly rejection: Rejection }
  | { readonly kind: "queue_full"; readonly rejection: Rejection };

export interface Admitted {
  readonly waiter: Waiter;
  readonly reservation: Reservation;
}

export interface Expired {
  readonly waiter: Waiter;
  readonly rejection: Rejection;
}

/**
 * A new call. Calls already waiting go first (drain); then the newcomer is admitted if it fits and nothing owed
 * more is waiting, else queued when the exact wait it needs is known to end within its bound, else refused now:
 * a client is never made to wait for nothing.
 */
export function arrive(state: LimiterState, limits: Limits, queue: Queue, waiter: Waiter, now: number): Arrival {
  // Fairness and priority shares count what was served since the queue formed, not before.
  if (queue.waiters.length === 0) resetServed(queue);
  const ahead = queue.waiters.length > 0 && outranked(queue, limits, waiter);
  if (!ahead) {
    const admission = admit(state, limits, waiter.request, now);
    if (admission.ok) {
      recordServed(queue, waiter, admission.reservation);
      return { kind: "admitted", reservation: admission.reservation };
    }
    return waitOrRefuse(limits, queue, waiter, admission.rejection, now);
  }
  // Someone owed more is waiting: the newcomer may only wait behind it.
  const probe = admit(state, limits, waiter.request, now);
  if (probe.ok) {
    // It would fit, but the room belongs to the waiters ahead: undo and queue (or refuse) it.
    undo(state, limits, probe.reservation, now);
    const wait = headWait(state, limits, queue, now);
    // Queued behind a head that cannot fit before this call's deadline, it would wait for nothing, unless it is
    // itself the next to serve (fairness or priority put it first).
    const hopeless = wait === null || now + wait > waiter.deadline;
    if (hopeless && !wouldBeNext(queue, limits, waiter)) return { kind: "rejected", rejection: queueRejection(queue, "limit", wait) };
    return waitOrRefuse(limits, queue, waiter, queueRejection(queue, "limit", wait), now, true);
  }
  return waitOrRefuse(limits, queue, waiter, probe.rejection, now);
}

/**
 * Admits every waiter that fits now, in order (see `next`), and stops at the first that does not: no waiter is
 * overtaken by a smaller one behind it. Waiters past their deadline leave with their last refusal.
 */
export function drain(state: LimiterState, limits: Limits, queue: Queue, now: number): { admitted: Admitted[]; expired: Expired[] } {
  const admitted: Admitted[] = [];
  const expired: Expired[] = [];
  for (;;) {
    const waiter = next(queue, limits);
    if (!waiter) break;
    if (now > waiter.deadline) {
      // Past its deadline (a late timer, a slot freed after it): it leaves, even if it would fit now.
      remove(queue, waiter);
      expired.push({ waiter, rejection: refusalAt(state, limits, queue, waiter, now) });
      continue;
    }
    const admission = admit(state, limits, waiter.request, now);
    if (admission.ok) {
      remove(queue, waiter);
      recordServed(queue, waiter, admission.reservation);
      admitted.push({ waiter, reservation: admission.reservation });
      continue;
    }
    const wait = admission.rejection.retryAfterMs;
    if (now >= waiter.deadline || wait === null || now + wait > waiter.deadline) {
      // It can no longer be admitted in time: tell it now rather than at its deadline.
      remove(queue, waiter);
      expired.push({ waiter, rejection: admission.rejection });
      continue;
    }
    break;
  }
  // Nobody behind a head that does not fit can be admitted now: those whose deadline has come leave.
  for (const waiter of [...queue.waiters]) {
    if (waiter.deadline > now) continue;
    remove(queue, waiter);
    expired.push({ waiter, rejection: refusalAt(state, limits, queue, waiter, now) });
  }
  if (queue.waiters.length === 0) resetServed(queue);
  return { admitted, expired };
}

/** The refusal a waiter leaves with: its own limit's, or the queue ahead of it when it would fit by itself. */
function refusalAt(state: LimiterState, limits: Limits, queue: Queue, waiter: Waiter, now: number): Rejection {
  const probe = admit(state, limits, waiter.request, now);
  if (!probe.ok) return probe.rejection;
  undo(state, limits, probe.reservation, now);
  return queueRejection(queue, "limit", headWait(state, limits, queue, now));
}

function resetServed(queue: Queue): void {
  queue.served.clear();
  queue.servedByPriority.clear();
}

/** Whether this newcomer, once queued, would be the next call served. */
function wouldBeNext(queue: Queue, limits: Limits, newcomer: Waiter): boolean {
  queue.waiters.push(newcomer);
  const first = next(queue, limits);
  queue.waiters.pop();
  return first === newcomer;
}

/** Takes a waiter out (its client left); true when it was still waiting. */
export function leave(queue: Queue, requestId: string): Waiter | null {
  const waiter = queue.waiters.find((candidate) => candidate.request.requestId === requestId) ?? null;
  if (waiter) remove(queue, waiter);
  if (queue.waiters.length === 0) resetServed(queue);
  return waiter;
}

/** When the owner must look at its queue again without being asked: the head's exact wait, or a deadline. */
export function nextWakeAt(state: LimiterState, limits: Limits, queue: Queue, now: number): number | null {
  if (queue.waiters.length === 0) return null;
  let wake = Math.min(...queue.waiters.map((waiter) => waiter.deadline));
  const head = next(queue, limits);
  if (head) {
    const probe = admit(state, limits, head.request, now);
    if (probe.ok) {
      undo(state, limits, probe.reservation, now);
      return now;
    }
    if (probe.rejection.retryAfterMs !== null) wake = Math.min(wake, now + probe.rejection.retryAfterMs);
  }
  return wake;
}

/** Queue length and how long the oldest waiter has waited, for /key/info and /team/info. */
export function queueReport(queue: Queue, now: number): { length: number; oldestWaitMs: number | null } {
  if (queue.waiters.length === 0) return { length: 0, oldestWaitMs: null };
  return { length: queue.waiters.length, oldestWaitMs: Math.max(0, now - Math.min(...queue.waiters.map((waiter) => waiter.enqueuedAt))) };
}

/**
 * The waiter to admit next. Priority classes still short of their reserved share of what has been admitted go
 * first, largest reservation first; when none is waiting, anyone may borrow (work-conserving). Within the chosen
 * class, the share (key) served least so far goes first (max-min fairness); within a share, first come first served.
 */
export function next(queue: Queue, limits: Limits): Waiter | undefined {
  if (queue.waiters.length === 0) return undefined;
  const owed = owedClasses(queue, limits);
  const pool = owed.length > 0 ? queue.waiters.filter((waiter) => waiter.priority === owed[0]) : queue.waiters;
  let best: Waiter | undefined;
  for (const waiter of pool) {
    if (!best) {
      best = waiter;
      continue;
    }
    const served = queue.served.get(waiter.share) ?? 0;
    const bestServed = queue.served.get(best.share) ?? 0;
    if (served < bestServed || (served === bestServed && waiter.enqueuedAt < best.enqueuedAt)) best = waiter;
  }
  return best;
}

/** Waiting priority classes below their reserved share, most reserved first. */
function owedClasses(queue: Queue, limits: Limits): string[] {
  const shares = limits.priorityReservation ?? {};
  const total = [...queue.servedByPriority.values()].reduce((sum, tokens) => sum + tokens, 0);
  const waiting = new Set(queue.waiters.map((waiter) => waiter.priority).filter((priority): priority is string => priority !== null));
  return [...waiting]
    .filter((priority) => Object.hasOwn(shares, priority) && (queue.servedByPriority.get(priority) ?? 0) < shares[priority]! * Math.max(total, 1))
    .sort((a, b) => shares[b]! - shares[a]!);
}

/** Whether a waiting call should go before this newcomer: an owed class it is not in, or any waiter at all. */
function outranked(queue: Queue, limits: Limits, newcomer: Waiter): boolean {
  const owed = owedClasses(queue, limits);
  if (owed.length > 0) return owed[0] !== newcomer.priority || queue.waiters.some((waiter) => waiter.priority === newcomer.priority);
  return true;
}

function waitOrRefuse(limits: Limits, queue: Queue, waiter: Waiter, rejection: Rejection, now: number, unknownWait = false): Arrival {
  const wait = rejection.retryAfterMs;
  const mayWait = waiter.deadline > now && (unknownWait || (wait !== null && now + wait <= waiter.deadline));
  if (!mayWait) return { kind: "rejected", rejection };
  if (queue.waiters.length >= MAX_WAITERS || queuedTokens(queue) + waiterTokens(waiter) > queueTokenBound(limits)) {
    return { kind: "queue_full", rejection: queueRejection(queue, "queue_full", wait) };
  }
  queue.waiters.push(waiter);
  return { kind: "queued" };
}

function queuedTokens(queue: Queue): number {
  return queue.waiters.reduce((sum, waiter) => sum + waiterTokens(waiter), 0);
}

/** What a waiter would reserve at most: its prompt bound and its output cap. */
function waiterTokens(waiter: Waiter): number {
  return waiter.request.promptTokens + (waiter.request.maxOutputTokens ?? 0);
}

function queueTokenBound(limits: Limits): number {
  const limit = Math.min(limits.tpm ?? Number.POSITIVE_INFINITY, limits.inputTpm ?? Number.POSITIVE_INFINITY);
  return Number.isFinite(limit) ? limit * MAX_QUEUED_WINDOWS : Number.POSITIVE_INFINITY;
}

/** The refusal a newcomer gets from the queue itself: full, or calls waiting ahead of one that may not wait. */
function queueRejection(queue: Queue, reason: "limit" | "queue_full", retryAfterMs: number | null): Rejection {
  return { name: "queue", reason, model: null, limit: MAX_WAITERS, remaining: Math.max(0, MAX_WAITERS - queue.waiters.length), requested: 1, retryAfterMs };
}

/** How long until the call at the head of the queue fits, if that is known. */
function headWait(state: LimiterState, limits: Limits, queue: Queue, now: number): number | null {
  const head = next(queue, limits);
  if (!head) return null;
  const probe = admit(state, limits, head.request, now);
  if (!probe.ok) return probe.rejection.retryAfterMs;
  undo(state, limits, probe.reservation, now);
  return 0;
}

function recordServed(queue: Queue, waiter: Waiter, reservation: Reservation): void {
  const tokens = Math.max(1, reservation.tokens);
  queue.served.set(waiter.share, (queue.served.get(waiter.share) ?? 0) + tokens);
  if (waiter.priority !== null) queue.servedByPriority.set(waiter.priority, (queue.servedByPriority.get(waiter.priority) ?? 0) + tokens);
}

function remove(queue: Queue, waiter: Waiter): void {
  queue.waiters = queue.waiters.filter((candidate) => candidate !== waiter);
}

/** Takes back a probe admission: as if it had never been made. */
function undo(state: LimiterState, limits: Limits, reservation: Reservation, now: number): void {
  cancel(state, limits, reservation.requestId, now);
}
