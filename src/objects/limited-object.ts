import { DurableObject } from "cloudflare:workers";
import type { Bindings } from "../bindings";
import { loadConfig, type Config } from "../config/config";
import {
  admit,
  advance,
  budgetEntry,
  cancel,
  extend,
  queue as waiting,
  report,
  release,
  settle,
  snapshot,
  WHOLE,
  type Limits,
  type TokenSplit,
  type Usage,
} from "../limiter";
import type { AdmitAnswer, AdmitInput, AdmittedExtras, LeaseAnswer, LeaseRequest, Owner, View } from "./protocol";
import { lend, type LendTerms } from "./lending";
import { LimiterStore } from "./limiter-store";
import { REJECTION_REASONS, RefusalLog } from "./refusal-log";
import { AlertOutbox } from "./alert-outbox";
import { BudgetAlerts, type AlertOwner } from "./budget-alerts";
import type { AlertEvent } from "../alerts/event";

/** How long an alert handed to the queue may go unacknowledged before it is sent again (ALERT_RESEND_SECONDS). */
function resendAfterMs(env: Bindings): number {
  const seconds = Number(env.ALERT_RESEND_SECONDS ?? 60);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 60_000;
}
import { SpendLedger, type LedgerEntry } from "./spend-ledger";

export type { AdmitInput, View } from "./protocol";


const RECORD = "record";

/**
 * The Durable Object shell every limiter owner shares (key, team, deployment): a stored record that says what
 * the limits are, the pure limiter state persisted through LimiterStore, and the spend ledger. Subclasses add
 * only what is specific to them (authentication, allow-lists, cool-downs); reserve/settle/expire logic lives
 * here once and in the pure core.
 */
export abstract class LimitedObject<R> extends DurableObject<Bindings> implements Owner {
  protected store!: LimiterStore;
  protected readonly ledger: SpendLedger;
  protected readonly refusals: RefusalLog;
  protected readonly alerts: BudgetAlerts;
  protected record: R | null = null;
  private limitsCache: { record: R; limits: Limits } | null = null;
  /** Calls waiting for capacity (live calls, so kept in memory only: a restart fails them, reserving nothing). */
  private readonly queue = waiting.emptyQueue();
  private readonly answers = new Map<string, { resolve: (answer: AdmitAnswer) => void; extras: AdmittedExtras }>();
  private wakeTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    this.ledger = new SpendLedger(ctx.storage.sql);
    this.refusals = new RefusalLog(ctx.storage);
    const queue = env.ALERTS as { send(event: AlertEvent): Promise<void> } | undefined;
    this.alerts = new BudgetAlerts(ctx.storage, new AlertOutbox(ctx.storage, queue ? (event) => queue.send(event) : null, resendAfterMs(env), (at) => this.store.wakeBy(at)));
    void ctx.blockConcurrencyWhile(async () => {
      this.record = ctx.storage.kv.get<R>(RECORD) ?? null;
      this.store = await LimiterStore.open(ctx.storage);
      this.load();
    });
  }

  /** The owner's kind, as refusals name it. */
  protected abstract readonly scope: "key" | "team" | "end_user" | "deployment";

  /** Who this owner is, as its alerts name it. */
  protected abstract alertOwner(record: R): AlertOwner;

  /** Fractions of max_budget whose crossing is announced (alert_thresholds); none by default. */
  protected alertThresholds(_record: R): readonly number[] {
    return [];
  }

  /** Translates the owner's record into limits. */
  protected abstract limitsOf(record: R, config: Config): Limits;

  /** Hook for subclasses that keep more than the record. */
  protected load(): void {}

  /** The only clock the object reads; the test entry shifts it to cross windows and budget periods. */
  protected now(): number {
    return Date.now();
  }

  /** Authenticates (keys), applies the owner's rules and reserves, in one round trip. */
  abstract admit(input: AdmitInput, name: string): AdmitAnswer | Promise<AdmitAnswer>;

  protected limits(record: R): Limits {
    if (this.limitsCache?.record !== record) this.limitsCache = { record, limits: this.limitsOf(record, loadConfig(this.env)) };
    return this.limitsCache.limits;
  }

  protected saveRecord(record: R): void {
    this.record = record;
    this.ctx.storage.kv.put(RECORD, record);
  }

  /**
   * Brings the limiter to now before any operation and books what that did to spend: expired reservations
   * are charged, and a budget reset gets a ledger line of minus what it wiped, so the ledger keeps summing
   * to spend.
   */
  protected tick(record: R): number {
    const state = this.store.state;
    const before = state.budgets.get(WHOLE)?.spend ?? 0;
    const { now, expired } = advance(state, this.limits(record), this.now());
    this.ledger.record(expired);
    const charged = expired.reduce((sum, settlement) => sum + settlement.cost, 0);
    this.ledger.recordReset(now, before + charged - (state.budgets.get(WHOLE)?.spend ?? 0));
    return now;
  }

  /**
   * Reserves for one call against this owner's limits; the caller has already checked it may call at all. A call
   * that may wait and does not fit yet is queued and answered the moment it fits (or can no longer in time).
   */
  protected reserve(record: R, input: AdmitInput, now: number, extras: AdmittedExtras = { teamId: null }): AdmitAnswer | Promise<AdmitAnswer> {
    const limits = this.limits(record);
    this.serveQueue(record, now);
    const maxWait = Math.max(0, input.maxWaitMs ?? limits.maxWaitMs ?? 0);
    const arrival = waiting.arrive(this.store.state, limits, this.queue, {
      request: input,
      enqueuedAt: now,
      deadline: now + maxWait,
      share: input.share ?? input.requestId,
      priority: input.priority ?? null,
    }, now);
    if (arrival.kind === "queued") {
      const answer = new Promise<AdmitAnswer>((resolve) => this.answers.set(input.requestId, { resolve, extras }));
      this.store.persist();
      this.scheduleWake(record);
      return answer;
    }
    const view = snapshot(this.store.state, limits, now);
    this.store.persist();
    if (arrival.kind !== "admitted") {
      this.refusals.note(`${this.scope}:${REJECTION_REASONS[arrival.rejection.name]}`, now);
      if (arrival.rejection.name === "budget" && arrival.rejection.model === null) {
        this.alerts.budgetExceeded(this.alertOwner(record), this.store.state.budgets.get(WHOLE), limits.budget, now);
      }
      return { kind: "rejected", rejection: arrival.rejection, snapshot: view };
    }
    const { tokens, cost, promptTokens } = arrival.reservation;
    return { kind: "admitted", reserved: { tokens, cost, promptTokens: promptTokens ?? tokens }, snapshot: view, ...extras, queuedMs: 0 };
  }

  /**
   * Admits the waiting calls that fit now and answers those that can no longer fit in time. Runs wherever capacity
   * may have freed: a settlement, a release, a withdrawal, a departure, the timer set for the next exact instant.
   */
  private serveQueue(record: R, now: number): void {
    if (this.queue.waiters.length === 0) return;
    const limits = this.limits(record);
    const { admitted, expired } = waiting.drain(this.store.state, limits, this.queue, now);
    if (admitted.length === 0 && expired.length === 0) return;
    const view = snapshot(this.store.state, limits, now);
    for (const { waiter, reservation } of admitted) {
      const pending = this.answers.get(waiter.request.requestId);
      this.answers.delete(waiter.request.requestId);
      const { tokens, cost, promptTokens } = reservation;
      if (!pending) continue;
      pending.resolve({
        kind: "admitted",
        reserved: { tokens, cost, promptTokens: promptTokens ?? tokens },
        snapshot: view,
        ...pending.extras,
        queuedMs: now - waiter.enqueuedAt,
      });
    }
    for (const { waiter, rejection } of expired) {
      this.refusals.note(`${this.scope}:${REJECTION_REASONS[rejection.name]}`, now);
      const pending = this.answers.get(waiter.request.requestId);
      this.answers.delete(waiter.request.requestId);
      pending?.resolve({ kind: "rejected", rejection, snapshot: view, queuedMs: now - waiter.enqueuedAt });
    }
  }

  /** Wakes at the next instant a waiting call may fit (a bucket leaves the window, a budget resets) or must leave. */
  private scheduleWake(record: R): void {
    if (this.wakeTimer !== null) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    const now = this.store.state.clock;
    const at = waiting.nextWakeAt(this.store.state, this.limits(record), this.queue, now);
    if (at === null) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      if (!this.record) return;
      this.serveQueue(this.record, this.tick(this.record));
      this.store.persist();
      this.scheduleWake(this.record);
    }, Math.max(0, at - now));
  }

  /** After anything that may free capacity or move spend: serve the queue, announce what happened, persist. */
  private afterChange(record: R, now: number): void {
    this.serveQueue(record, now);
    this.alerts.checkBudget(this.alertOwner(record), this.store.state.budgets.get(WHOLE), this.limits(record).budget, this.alertThresholds(record), now);
    this.store.persist();
    const resend = this.alerts.outbox.nextWakeAt(now);
    if (resend !== null) this.store.wakeBy(resend);
    if (this.queue.waiters.length > 0) this.scheduleWake(record);
  }

  /**
   * One lease round trip (src/objects/lending.ts). `terms` null: this owner lends nothing now (a rule refuses the
   * model, the key is blocked...); what is given back is still taken. Nothing is lent while calls wait here, so
   * waiting calls are served first and in their fair order.
   */
  protected renew(record: R, request: LeaseRequest, terms: LendTerms | null): LeaseAnswer {
    const now = this.tick(record);
    for (const reason of request.refusals) this.refusals.note(reason, now);
    const lending = this.queue.waiters.length === 0 ? terms : null;
    const { answer, settlements } = lend(this.store.state, this.limits(record), loadConfig(this.env), request, lending, now);
    this.ledger.record(settlements);
    this.afterChange(record, now);
    return answer;
  }

  /** The queue consumer delivered this alert (or gave up on it through the dead-letter queue). */
  async ackAlert(id: string): Promise<boolean> {
    return this.alerts.outbox.ack(id);
  }

  async leave(requestId: string): Promise<boolean> {
    const left = waiting.leave(this.queue, requestId);
    if (!left) return false;
    const pending = this.answers.get(requestId);
    this.answers.delete(requestId);
    pending?.resolve({ kind: "left" });
    if (this.record) this.afterChange(this.record, this.tick(this.record));
    return true;
  }

  /** A new budget period schedule starts now, as a freshly created budget's would. */
  protected restartBudgetPeriod(scope: string): void {
    const budget = this.store.state.budgets.get(scope);
    if (!budget) return;
    budget.resetAt = null;
    this.store.state.changed.add(budgetEntry(scope));
  }

  /** Forgets the record, the limiter state and the ledger. */
  protected forget(): R | null {
    const record = this.record;
    this.record = null;
    this.limitsCache = null;
    this.store.clear();
    this.ledger.clear();
    this.refusals.clear();
    this.alerts.clear();
    this.ctx.storage.kv.delete(RECORD);
    void this.ctx.storage.deleteAlarm();
    return record;
  }

  exists(): boolean {
    return this.record !== null;
  }

  view(): View<R> | null {
    if (!this.record) return null;
    const now = this.tick(this.record);
    const view = {
      record: this.record,
      snapshot: snapshot(this.store.state, this.limits(this.record), now),
      queue: waiting.queueReport(this.queue, now),
      refusals: this.refusals.all(),
      learned: report(this.store.state.estimates),
    };
    this.store.persist();
    return view;
  }

  async finish(requestId: string, used: Usage | null, split?: TokenSplit): Promise<boolean> {
    if (!this.record) return false;
    const limits = this.limits(this.record);
    const now = this.tick(this.record);
    const done = used ? settle(this.store.state, limits, requestId, used, now, split) : release(this.store.state, limits, requestId, now);
    if (done) this.ledger.record([done]);
    this.afterChange(this.record, now);
    return done !== null;
  }

  async extend(requestId: string, tokens: number): Promise<boolean> {
    if (!this.record) return false;
    const now = this.tick(this.record);
    const grown = extend(this.store.state, this.limits(this.record), requestId, tokens, now);
    this.afterChange(this.record, now);
    return grown;
  }

  /** `reason`: why a later owner refused the call ("team:rpm_limit"...), counted among this owner's refusals. */
  async withdraw(requestId: string, reason?: string): Promise<boolean> {
    if (!this.record) return false;
    if (reason !== undefined) this.refusals.note(reason, this.now());
    const now = this.tick(this.record);
    const done = cancel(this.store.state, this.limits(this.record), requestId, now);
    this.afterChange(this.record, now);
    return done !== null;
  }

  /** The spend ledger, newest first; its lines sum to the current spend. */
  spendLog(limit: number): LedgerEntry[] | null {
    if (!this.record) return null;
    this.tick(this.record);
    this.store.persist();
    return this.ledger.list(limit);
  }

  override async alarm(): Promise<void> {
    this.store.alarmFired();
    if (this.record) {
      const now = this.tick(this.record);
      this.alerts.outbox.resendDue(now);
      this.afterChange(this.record, now);
    } else this.store.persist();
  }
}
