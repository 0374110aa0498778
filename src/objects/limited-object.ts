import { DurableObject } from "cloudflare:workers";
import type { Bindings } from "../bindings";
import { loadConfig, type Config } from "../config/config";
import {
  admit,
  advance,
  budgetEntry,
  cancel,
  extend,
  report,
  release,
  settle,
  snapshot,
  WHOLE,
  type Limits,
  type TokenSplit,
  type Usage,
} from "../limiter";
import type { AdmitAnswer, AdmitInput, Owner, View } from "./protocol";
import { LimiterStore } from "./limiter-store";
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
  protected record: R | null = null;
  private limitsCache: { record: R; limits: Limits } | null = null;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    this.ledger = new SpendLedger(ctx.storage.sql);
    void ctx.blockConcurrencyWhile(async () => {
      this.record = ctx.storage.kv.get<R>(RECORD) ?? null;
      this.store = await LimiterStore.open(ctx.storage);
      this.load();
    });
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
  abstract admit(input: AdmitInput, name: string): AdmitAnswer;

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

  /** Reserves for one call against this owner's limits; the caller has already checked it may call at all. */
  protected reserve(record: R, input: AdmitInput, now: number, teamId: string | null = null): AdmitAnswer {
    const limits = this.limits(record);
    const admission = admit(this.store.state, limits, input, now);
    const view = snapshot(this.store.state, limits, now);
    this.store.persist();
    if (!admission.ok) return { kind: "rejected", rejection: admission.rejection, snapshot: view };
    const { tokens, cost, promptTokens } = admission.reservation;
    return { kind: "admitted", reserved: { tokens, cost, promptTokens: promptTokens ?? tokens }, snapshot: view, teamId };
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
    const view = { record: this.record, snapshot: snapshot(this.store.state, this.limits(this.record), now), learned: report(this.store.state.estimates) };
    this.store.persist();
    return view;
  }

  async finish(requestId: string, used: Usage | null, split?: TokenSplit): Promise<boolean> {
    if (!this.record) return false;
    const limits = this.limits(this.record);
    const now = this.tick(this.record);
    const done = used ? settle(this.store.state, limits, requestId, used, now, split) : release(this.store.state, limits, requestId, now);
    if (done) this.ledger.record([done]);
    this.store.persist();
    return done !== null;
  }

  async extend(requestId: string, tokens: number): Promise<boolean> {
    if (!this.record) return false;
    const grown = extend(this.store.state, this.limits(this.record), requestId, tokens, this.tick(this.record));
    this.store.persist();
    return grown;
  }

  async withdraw(requestId: string): Promise<boolean> {
    if (!this.record) return false;
    const done = cancel(this.store.state, this.limits(this.record), requestId, this.tick(this.record));
    this.store.persist();
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
    if (this.record) this.tick(this.record);
    this.store.persist();
  }
}
