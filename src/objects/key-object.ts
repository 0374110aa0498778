import type { Config } from "../config/config";
import { WHOLE, type Limits, type Rejection, type Snapshot } from "../limiter";
import { keySettingsSchema, type KeyRecord, type KeySettings } from "../schemas/key";
import { keyLimits } from "./key-limits";
import { LimitedObject, type AdmitInput, type CallUsage, type Reserved, type View } from "./limited-object";
import { LimiterStore } from "./limiter-store";
import type { LedgerEntry } from "./spend-ledger";
import { keyObject } from "./stubs";

export type { AdmitInput, CallUsage } from "./limited-object";

/** Why a key itself (not its limits) turns a request away. */
export interface KeyRefusal {
  readonly status: 401 | 403;
  readonly code: "invalid_api_key" | "key_expired" | "key_blocked" | "model_not_allowed";
  readonly message: string;
}

/** Only what the front door needs travels back: every request pays for the serialisation. */
export type AdmitResult =
  | { readonly ok: true; readonly teamId: string | null; readonly reservation: Reserved; readonly snapshot: Snapshot }
  | { readonly ok: false; readonly refusal: KeyRefusal }
  | { readonly ok: false; readonly rejection: Rejection; readonly snapshot: Snapshot };

export type KeyView = View<KeyRecord>;

const MOVED_TO = "moved_to";

/**
 * One virtual key: its settings and the authoritative limiter state. The single writer for that key, so
 * admission is check-and-reserve in one step with no race, and /key/info reads exactly what admission reads.
 */
export class KeyObject extends LimitedObject<KeyRecord> {
  private movedTo: string | null = null;

  protected override load(): void {
    this.movedTo = this.ctx.storage.kv.get<string>(MOVED_TO) ?? null;
  }

  protected limitsOf(record: KeyRecord, config: Config): Limits {
    return keyLimits(record, config);
  }

  /** false when the object already holds a key (a caller-chosen secret collided) or a forwarding address. */
  create(record: KeyRecord): boolean {
    if (this.record || this.movedTo) return false;
    this.saveRecord(record);
    return true;
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

  destroy(): KeyRecord | null {
    return this.forget();
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
      this.forget();
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

  /** Whether this key may make a call at all right now (exists, not expired, not blocked), with its record. */
  authenticate(): { ok: true; record: KeyRecord } | { ok: false; refusal: KeyRefusal } {
    const record = this.record;
    if (!record) return { ok: false, refusal: INVALID };
    const refusal = keyRefusal(record, this.now());
    return refusal ? { ok: false, refusal } : { ok: true, record };
  }

  /** Authenticates the key and reserves capacity for one request, in one round trip. */
  admit(input: AdmitInput): AdmitResult {
    const record = this.record;
    if (!record) return { ok: false, refusal: INVALID };
    const now = this.tick(record);
    const refusal = keyRefusal(record, now);
    if (refusal) return { ok: false, refusal };
    if (!modelAllowed(record.models, input.model)) {
      return {
        ok: false,
        refusal: { status: 403, code: "model_not_allowed", message: `This key may not use model '${input.model}'. Allowed: ${record.models.join(", ")}.` },
      };
    }
    const reserved = this.reserve(record, input, now);
    return reserved.ok ? { ...reserved, teamId: record.team_id } : reserved;
  }

  /** After a regeneration, calls admitted under the old secret still end here and are forwarded. */
  override async finish(requestId: string, used: CallUsage | null): Promise<boolean> {
    if (this.movedTo && !this.store.state.reservations.has(requestId)) return keyObject(this.env, this.movedTo).finish(requestId, used);
    return super.finish(requestId, used);
  }

  override async withdraw(requestId: string): Promise<boolean> {
    if (this.movedTo && !this.store.state.reservations.has(requestId)) return keyObject(this.env, this.movedTo).withdraw(requestId);
    return super.withdraw(requestId);
  }
}

const INVALID: KeyRefusal = { status: 401, code: "invalid_api_key", message: "Invalid API key." };

function keyRefusal(record: KeyRecord, now: number): KeyRefusal | null {
  if (record.expires !== null && Date.parse(record.expires) <= now) {
    return { status: 401, code: "key_expired", message: `API key expired at ${record.expires}.` };
  }
  if (record.blocked) return { status: 403, code: "key_blocked", message: "API key is blocked." };
  return null;
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
