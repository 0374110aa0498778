import { DurableObject } from "cloudflare:workers";
import type { Bindings } from "../config/bindings";
import { loadConfig, type Config } from "../config/config";
import {
  admit,
  advance,
  budgetEntry,
  cancel,
  release,
  settle,
  snapshot,
  WHOLE,
  type Limits,
  type Price,
  type Rejection,
  type Snapshot,
} from "../limiter";
import { LimiterStore } from "./limiter-store";
import { SpendLedger, type LedgerEntry } from "./spend-ledger";

/** What a front door asks a limiter owner to reserve for one call. */
export interface AdmitInput {
  readonly requestId: string;
  readonly model: string;
  readonly promptTokens: number;
  readonly maxOutputTokens: number | null;
  readonly price: Price | null;
}

export interface CallUsage {
  readonly tokens: number;
  readonly cost: number;
}

export interface Reserved {
  readonly tokens: number;
  readonly cost: number;
}

export type Reservation =
  | { readonly ok: true; readonly reservation: Reserved; readonly snapshot: Snapshot }
  | { readonly ok: false; readonly rejection: Rejection; readonly snapshot: Snapshot };

export interface View<R> {
  readonly record: R;
  readonly snapshot: Snapshot;
}

const RECORD = "record";

/**
 * The Durable Object shell every limiter owner shares (key, team, deployment): a stored record that says what
 * the limits are, the pure limiter state persisted through LimiterStore, and the spend ledger. Subclasses add
 * only what is specific to them (authentication, allow-lists, cool-downs); reserve/settle/expire logic lives
 * here once and in the pure core.
 */
export abstract class LimitedObject<R> extends DurableObject<Bindings> {
  protected store!: LimiterStore;
  protected readonly ledger: SpendLedger;
  protected record: R | null = null;
  private limitsCache: { record: R; limits: Limits } | null = null;
  /** Tests shift this object's clock to cross windows and budget periods without waiting. */
  clockOffsetMs = 0;

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

  protected now(): number {
    return Date.now() + this.clockOffsetMs;
  }

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
  protected reserve(record: R, input: AdmitInput, now: number): Reservation {
    const limits = this.limits(record);
    const admission = admit(this.store.state, limits, { ...input, id: input.requestId }, now);
    const view = snapshot(this.store.state, limits, now);
    this.store.persist();
    if (!admission.ok) return { ok: false, rejection: admission.rejection, snapshot: view };
    return { ok: true, reservation: { tokens: admission.reservation.tokens, cost: admission.reservation.cost }, snapshot: view };
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
    const view = { record: this.record, snapshot: snapshot(this.store.state, this.limits(this.record), now) };
    this.store.persist();
    return view;
  }

  /** Ends a reservation: real usage, or nothing consumed (`null`). false when it had already ended. */
  async finish(requestId: string, used: CallUsage | null): Promise<boolean> {
    if (!this.record) return false;
    const limits = this.limits(this.record);
    const now = this.tick(this.record);
    const done = used ? settle(this.store.state, limits, requestId, used, now) : release(this.store.state, limits, requestId, now);
    if (done) this.ledger.record([done]);
    this.store.persist();
    return done !== null;
  }

  /** Undoes an admission another limiter refused: as if the request had never been made. */
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

  /** Size of what this object keeps, for the bounded-state benchmark. */
  stats(): { databaseBytes: number; limiterEntries: number; ledgerRows: number; buckets: number; reservations: number } {
    let buckets = 0;
    for (const window of this.store.state.windows.values()) buckets += window.buckets.length;
    return {
      databaseBytes: this.ctx.storage.sql.databaseSize,
      limiterEntries: [...this.ctx.storage.kv.list({ prefix: "limiter/" })].length,
      ledgerRows: this.ledger.size,
      buckets,
      reservations: this.store.state.reservations.size,
    };
  }

  override async alarm(): Promise<void> {
    this.store.alarmFired();
    if (this.record) this.tick(this.record);
    this.store.persist();
  }
}
