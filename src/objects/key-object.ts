import type { Config } from "../config/config";
import { modelScope, WHOLE, type Limits, type TokenSplit, type Usage } from "../limiter";
import { keySettingsSchema, type KeyRecord, type KeySettings } from "../schemas/key";
import type { AlertOwner } from "./budget-alerts";
import { keyLimits, modelAllowed } from "./limits";
import { LimitedObject } from "./limited-object";
import { LimiterStore } from "./limiter-store";
import type { AdmitAnswer, AdmitInput, KeyService, KeyView, LeaseAnswer, LeaseRequest, Refusal } from "./protocol";
import type { LedgerEntry } from "./spend-ledger";

const MOVED_TO = "moved_to";

/**
 * One virtual key: its settings and the authoritative limiter state. The single writer for that key, so
 * admission is check-and-reserve in one step with no race, and /key/info reads exactly what admission reads.
 */
export class KeyObject extends LimitedObject<KeyRecord> implements KeyService {
  protected readonly scope = "key";

  protected alertOwner(record: KeyRecord): AlertOwner {
    return { kind: "key", id: record.token, alias: record.key_alias, team_id: record.team_id };
  }

  protected override alertThresholds(record: KeyRecord): readonly number[] {
    return record.alert_thresholds ?? [];
  }

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
      if (budget.time_period !== this.record.model_max_budget[model]?.time_period) this.restartBudgetPeriod(modelScope(model));
    }
    const wasBlocked = this.record.blocked;
    this.saveRecord(next);
    if (next.blocked && !wasBlocked) this.alerts.event(this.alertOwner(next), "key_blocked", next.updated_at, {}, this.now());
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
      const created = await this.keyAt(token).adopt(record, entries, this.ledger.export());
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
  authenticate(): { ok: true; record: KeyRecord } | { ok: false; refusal: Refusal } {
    const record = this.record;
    if (!record) return { ok: false, refusal: INVALID };
    const refusal = keyRefusal(record, this.now());
    return refusal ? { ok: false, refusal } : { ok: true, record };
  }

  /** Authenticates the key and reserves capacity for one request, in one round trip. */
  admit(input: AdmitInput): AdmitAnswer | Promise<AdmitAnswer> {
    const record = this.record;
    if (!record) return { kind: "refused", refusal: INVALID };
    const now = this.tick(record);
    const refusal = keyRefusal(record, now);
    if (refusal) {
      this.refusals.note(refusal.code, now);
      if (refusal.code === "key_expired") this.alerts.event(this.alertOwner(record), "key_expired", record.expires ?? "", {}, now);
      return { kind: "refused", refusal };
    }
    if (!modelAllowed(record.models, input.model)) {
      this.refusals.note("model_not_allowed", now);
      return {
        kind: "refused",
        refusal: { code: "model_not_allowed", message: `This key may not use model '${input.model}'. Allowed: ${record.models.join(", ")}.` },
      };
    }
    // Records stored before end_user_defaults and priority existed carry none.
    return this.reserve(record, input, now, { teamId: record.team_id, endUserDefaults: record.end_user_defaults ?? null, priority: record.priority ?? null });
  }

  /**
   * Leases for the key's calls of one model: lent only while the key may call that model, and never past the key's
   * expiry. After a regeneration, leases and calls under the old secret are given back to the new object.
   */
  lease(request: LeaseRequest): LeaseAnswer | Promise<LeaseAnswer> {
    const record = this.record;
    if (!record) {
      if (this.movedTo) return this.keyAt(this.movedTo).lease({ ...request, want: null }, this.movedTo);
      return { expired: request.close.map((lease) => lease.leaseId), grant: null };
    }
    const now = this.now();
    const allowed = request.want !== null && keyRefusal(record, now) === null && modelAllowed(record.models, request.want.model);
    const extras = { teamId: record.team_id, endUserDefaults: record.end_user_defaults ?? null, priority: record.priority ?? null };
    return this.renew(record, request, allowed ? { extras, until: record.expires === null ? null : Date.parse(record.expires) } : null);
  }

  /** After a regeneration, calls admitted under the old secret still end here and are forwarded. */
  override async finish(requestId: string, used: Usage | null, split?: TokenSplit): Promise<boolean> {
    if (this.movedTo && !this.store.state.reservations.has(requestId)) return this.keyAt(this.movedTo).finish(requestId, used, split);
    return super.finish(requestId, used, split);
  }

  override async extend(requestId: string, tokens: number): Promise<boolean> {
    if (this.movedTo && !this.store.state.reservations.has(requestId)) return this.keyAt(this.movedTo).extend(requestId, tokens);
    return super.extend(requestId, tokens);
  }

  override async withdraw(requestId: string, reason?: string): Promise<boolean> {
    if (this.movedTo && !this.store.state.reservations.has(requestId)) return this.keyAt(this.movedTo).withdraw(requestId, reason);
    return super.withdraw(requestId, reason);
  }

  /** Another key's object, reached directly: objects sit below the front door's guarded stubs. */
  private keyAt(token: string): Pick<KeyService, "adopt" | "finish" | "extend" | "withdraw" | "lease"> {
    return this.env.KEYS.get(this.env.KEYS.idFromName(token)) as unknown as Pick<KeyService, "adopt" | "finish" | "extend" | "withdraw" | "lease">;
  }
}

const INVALID: Refusal = { code: "invalid_api_key", message: "Invalid API key." };

function keyRefusal(record: KeyRecord, now: number): Refusal | null {
  if (record.expires !== null && Date.parse(record.expires) <= now) return { code: "key_expired", message: `API key expired at ${record.expires}.` };
  if (record.blocked) return { code: "key_blocked", message: "API key is blocked." };
  return null;
}

function pickSettings(record: KeyRecord): KeySettings {
  const { token: _token, key_name: _name, expires: _expires, created_at: _created, updated_at: _updated, ...settings } = record;
  return settings;
}
