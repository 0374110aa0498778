import { DurableObject } from "cloudflare:workers";
import type { Bindings } from "../config/bindings";
import { loadConfig } from "../config/config";
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
import { keySettingsSchema, type KeyRecord, type KeySettings } from "../schemas/key";
import { keyLimits } from "./key-limits";
import { LimiterStore } from "./limiter-store";
import { SpendLedger, type LedgerEntry } from "./spend-ledger";
import { keyObject } from "./stubs";

export interface AdmitInput {
  readonly requestId: string;
  readonly model: string;
  readonly promptTokens: number;
  readonly maxOutputTokens: number | null;
  readonly price: Price | null;
}

/** Why a key itself (not its limits) turns a request away. */
export interface KeyRefusal {
  readonly status: 401 | 403;
  readonly code: "invalid_api_key" | "key_expired" | "key_blocked" | "model_not_allowed";
  readonly message: string;
}

export type AdmitResult =
  | { readonly ok: true; readonly record: KeyRecord; readonly reservation: { tokens: number; cost: number }; readonly snapshot: Snapshot }
  | { readonly ok: false; readonly refusal: KeyRefusal }
  | { readonly ok: false; readonly rejection: Rejection; readonly record: KeyRecord; readonly snapshot: Snapshot };

export interface CallUsage {
  readonly tokens: number;
  readonly cost: number;
}

export interface KeyView {
  readonly record: KeyRecord;
  readonly snapshot: Snapshot;
}

/** What moves to the new object when a key is regenerated: settings, spend, windows and in-flight calls. */

const RECORD = "record";
const MOVED_TO = "moved_to";

/**
 * One virtual key: its settings and the authoritative limiter state. The single writer for that key, so
 * admission is check-and-reserve in one step with no race, and /key/info reads exactly what admission reads.
 */
export class KeyObject extends DurableObject<Bindings> {
  private store!: LimiterStore;
  private readonly ledger: SpendLedger;
  private record: KeyRecord | null = null;
  private movedTo: string | null = null;
  private limitsCache: { record: KeyRecord; limits: Limits } | null = null;
  /** Tests shift this object's clock to cross windows and budget periods without waiting. */
  clockOffsetMs = 0;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    this.ledger = new SpendLedger(ctx.storage.sql);
    void ctx.blockConcurrencyWhile(async () => {
      this.record = ctx.storage.kv.get<KeyRecord>(RECORD) ?? null;
      this.movedTo = ctx.storage.kv.get<string>(MOVED_TO) ?? null;
      this.store = await LimiterStore.open(ctx.storage);
    });
  }

  private now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  /**
   * Brings the limiter to now before any operation and books what that did to spend: expired reservations
   * are charged, and a budget reset gets a ledger line of minus what it wiped, so the ledger keeps summing
   * to spend.
   */
  private tick(record: KeyRecord): number {
    const state = this.store.state;
    const before = state.budgets.get(WHOLE)?.spend ?? 0;
    const { now, expired } = advance(state, this.limits(record), this.now());
    this.ledger.record(expired);
    const charged = expired.reduce((sum, settlement) => sum + settlement.cost, 0);
    this.ledger.recordReset(now, before + charged - (state.budgets.get(WHOLE)?.spend ?? 0));
    return now;
  }

  private limits(record: KeyRecord): Limits {
    if (this.limitsCache?.record !== record) this.limitsCache = { record, limits: keyLimits(record, loadConfig(this.env)) };
    return this.limitsCache.limits;
  }

  /** false when the object already holds a key (a caller-chosen secret collided) or a forwarding address. */
  create(record: KeyRecord): boolean {
    if (this.record || this.movedTo) return false;
    this.saveRecord(record);
    return true;
  }

  exists(): boolean {
    return this.record !== null;
  }

  view(): KeyView | null {
    if (!this.record) return null;
    const now = this.tick(this.record);
    const view = { record: this.record, snapshot: snapshot(this.store.state, this.limits(this.record), now) };
    this.store.persist();
    return view;
  }

  update(settings: Partial<KeySettings>, expires: string | null | undefined): KeyView | null {
    if (!this.record) return null;
    const merged = keySettingsSchema.parse({ ...pickSettings(this.record), ...settings });
    const next: KeyRecord = {
      ...this.record,
      ...merged,
      expires: expires === undefined ? this.record.expires : expires,
      updated_at: new Date(this.now()).toISOString(),
    };
    if (next.budget_duration !== this.record.budget_duration) this.restartBudgetPeriod(WHOLE);
    for (const [model, budget] of Object.entries(next.model_max_budget)) {
      if (budget.time_period !== this.record.model_max_budget[model]?.time_period) this.restartBudgetPeriod(`model:${model}`);
    }
    this.saveRecord(next);
    return this.view();
  }

  /** A new budget_duration starts its first period now, as a freshly created budget would. */
  private restartBudgetPeriod(scope: string): void {
    const budget = this.store.state.budgets.get(scope);
    if (!budget) return;
    budget.resetAt = null;
    this.store.state.changed.add(budgetEntry(scope));
  }

  destroy(): KeyRecord | null {
    const record = this.record;
    this.record = null;
    this.limitsCache = null;
    this.store.clear();
    this.ledger.clear();
    this.ctx.storage.kv.delete(RECORD);
    void this.ctx.storage.deleteAlarm();
    return record;
  }

  /**
   * Moves this key to a new secret. Concurrency is blocked for the whole move so no admission can slip in
   * between copying the state and leaving the forwarding address behind.
   */
  async moveTo(token: string, keyName: string): Promise<KeyRecord | null> {
    return this.ctx.blockConcurrencyWhile(async () => {
      if (!this.record) return null;
      const record: KeyRecord = { ...this.record, token, key_name: keyName, updated_at: new Date(this.now()).toISOString() };
      const entries: Array<[string, unknown]> = [...this.ctx.storage.kv.list({ prefix: "limiter/" })];
      const created = await keyObject(this.env, token).adopt(record, entries, this.ledger.export());
      if (!created) throw new Error("regenerated key's object already exists");
      this.destroy();
      this.movedTo = token;
      this.ctx.storage.kv.put(MOVED_TO, token);
      return record;
    });
  }

  /** Receives a regenerated key's state; the limiter is reopened from storage so memory matches it exactly. */
  async adopt(record: KeyRecord, entries: Array<[string, unknown]>, ledger: LedgerEntry[]): Promise<boolean> {
    if (this.record || this.movedTo) return false;
    for (const [name, value] of entries) this.ctx.storage.kv.put(name, value);
    this.ledger.import(ledger);
    this.saveRecord(record);
    this.store = await LimiterStore.open(this.ctx.storage);
    this.store.persist();
    return true;
  }

  /** Authenticates the key and reserves capacity for one request, in one round trip. */
  admit(input: AdmitInput): AdmitResult {
    const record = this.record;
    if (!record) return { ok: false, refusal: { status: 401, code: "invalid_api_key", message: "Invalid API key." } };
    const now = this.tick(record);
    if (record.expires !== null && Date.parse(record.expires) <= now) {
      return { ok: false, refusal: { status: 401, code: "key_expired", message: `API key expired at ${record.expires}.` } };
    }
    if (record.blocked) return { ok: false, refusal: { status: 403, code: "key_blocked", message: "API key is blocked." } };
    if (!modelAllowed(record.models, input.model)) {
      return {
        ok: false,
        refusal: { status: 403, code: "model_not_allowed", message: `This key may not use model '${input.model}'. Allowed: ${record.models.join(", ")}.` },
      };
    }
    const limits = this.limits(record);
    const admission = admit(this.store.state, limits, { ...input, id: input.requestId }, now);
    const view = snapshot(this.store.state, limits, now);
    this.store.persist();
    if (!admission.ok) return { ok: false, rejection: admission.rejection, record, snapshot: view };
    return { ok: true, record, reservation: { tokens: admission.reservation.tokens, cost: admission.reservation.cost }, snapshot: view };
  }

  /** Ends a reservation: real usage, or nothing consumed (`null`). Forwards after a regeneration. */
  async finish(requestId: string, used: CallUsage | null): Promise<boolean> {
    if (this.movedTo && !this.store.state.reservations.has(requestId)) {
      return keyObject(this.env, this.movedTo).finish(requestId, used);
    }
    if (!this.record) return false;
    const limits = this.limits(this.record);
    const now = this.tick(this.record);
    const done = used ? settle(this.store.state, limits, requestId, used, now) : release(this.store.state, limits, requestId, now);
    if (done) this.ledger.record([done]);
    this.store.persist();
    return done !== null;
  }

  /** Undoes an admission another limiter refused (no request happened). */
  async withdraw(requestId: string): Promise<boolean> {
    if (this.movedTo && !this.store.state.reservations.has(requestId)) return keyObject(this.env, this.movedTo).withdraw(requestId);
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

  private saveRecord(record: KeyRecord): void {
    this.record = record;
    this.ctx.storage.kv.put(RECORD, record);
  }
}

/** Empty allow-list means every model; entries ending in "*" match a prefix ("openai/*"). */
export function modelAllowed(models: readonly string[], model: string): boolean {
  if (models.length === 0) return true;
  return models.some((allowed) =>
    allowed === model || allowed === "all-proxy-models" || (allowed.endsWith("*") && model.startsWith(allowed.slice(0, -1))),
  );
}

function pickSettings(record: KeyRecord): KeySettings {
  const { token: _token, key_name: _name, expires: _expires, created_at: _created, updated_at: _updated, ...settings } = record;
  return settings;
}
