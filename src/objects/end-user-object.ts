import type { Config } from "../config/config";
import { WHOLE, type Limits } from "../limiter";
import { END_USER_DEFAULTS, endUserSettingsSchema, type EndUserDefaults, type EndUserRecord, type EndUserSettings } from "../schemas/end-user";
import type { DirectoryObject } from "./directory-object";
import type { AlertOwner } from "./budget-alerts";
import { LimitedObject } from "./limited-object";
import { endUserLimits } from "./limits";
import type { AdmitAnswer, AdmitInput, EndUserService, EndUserView } from "./protocol";

/**
 * One end user of the applications behind the gateway (OpenAI's `user`, Anthropic's metadata.user_id), named by
 * its id: its limits hold in total across every key and front door that serves it. Registered end users carry
 * their own limits (/customer/new); others exist only once defaults apply to them, created on first use.
 */
export class EndUserObject extends LimitedObject<EndUserRecord> implements EndUserService {
  protected readonly scope = "end_user";

  protected alertOwner(record: EndUserRecord): AlertOwner {
    return { kind: "end_user", id: record.user_id, alias: record.alias, team_id: null };
  }

  protected limitsOf(record: EndUserRecord, config: Config): Limits {
    return endUserLimits(record, config);
  }

  register(record: EndUserRecord): boolean {
    if (this.record?.registered) return false;
    // An end user first seen through defaults keeps what it has spent; a new budget period starts now.
    const wasImplicit = this.record !== null;
    this.saveRecord({ ...record, created_at: this.record?.created_at ?? record.created_at });
    if (wasImplicit) this.restartBudgetPeriod(WHOLE);
    return true;
  }

  update(settings: Partial<EndUserSettings>): EndUserView | null {
    if (!this.record) return null;
    const { user_id, created_at, registered, updated_at: _updated, ...current } = this.record;
    const next: EndUserRecord = {
      ...endUserSettingsSchema.parse({ ...current, ...settings }),
      user_id,
      registered,
      created_at,
      updated_at: new Date(this.now()).toISOString(),
    };
    if (next.budget_duration !== this.record.budget_duration) this.restartBudgetPeriod(WHOLE);
    this.saveRecord(next);
    return this.view();
  }

  destroy(): EndUserRecord | null {
    return this.forget();
  }

  admit(input: AdmitInput, id: string, defaults: EndUserDefaults | null = null): AdmitAnswer | Promise<AdmitAnswer> {
    const record = this.recordFor(id, defaults);
    if (!record) return { kind: "unknown" };
    const now = this.tick(record);
    if (record.blocked) return { kind: "refused", refusal: { code: "end_user_blocked", message: `End user '${record.user_id}' is blocked.` } };
    return this.reserve(record, input, now);
  }

  /**
   * The record that governs a call: the registered one, else one made (or brought up to date) from the defaults
   * the call came with. The latest defaults win for an id seen through keys with different ones.
   */
  private recordFor(id: string, defaults: EndUserDefaults | null): EndUserRecord | null {
    const record = this.record;
    if (record?.registered) return record;
    if (defaults === null) return record;
    const limits = { ...END_USER_DEFAULTS, ...defaults };
    const unchanged = record !== null && (Object.keys(limits) as Array<keyof typeof limits>).every((field) => sameValue(record[field], limits[field]));
    if (unchanged) return record;
    const now = new Date(this.now()).toISOString();
    const next: EndUserRecord = {
      ...limits,
      alias: record?.alias ?? null,
      blocked: record?.blocked ?? false,
      metadata: record?.metadata ?? {},
      user_id: id,
      registered: false,
      created_at: record?.created_at ?? now,
      updated_at: now,
    };
    if (record !== null && record.budget_duration !== next.budget_duration) this.restartBudgetPeriod(WHOLE);
    this.saveRecord(next);
    if (record === null) this.listInDirectory(next);
    return next;
  }

  /** /customer/list shows end users created from defaults too; the directory is off the request path. */
  private listInDirectory(record: EndUserRecord): void {
    const directory = this.env.DIRECTORY.get(this.env.DIRECTORY.idFromName("directory")) as unknown as Pick<DirectoryObject, "putEndUser">;
    this.ctx.waitUntil(
      Promise.resolve(directory.putEndUser({ user_id: record.user_id, alias: record.alias, registered: false, created_at: record.created_at })).catch(
        (error: unknown) => console.error("end user not listed in the directory:", error instanceof Error ? error.message : error),
      ),
    );
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
