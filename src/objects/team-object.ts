import type { Config } from "../config/config";
import { WHOLE, type Limits } from "../limiter";
import { teamSettingsSchema, type TeamRecord, type TeamSettings } from "../schemas/team";
import type { AlertOwner } from "./budget-alerts";
import { LimitedObject } from "./limited-object";
import { modelAllowed, teamLimits } from "./limits";
import type { AdmitAnswer, AdmitInput, LeaseAnswer, LeaseRequest, TeamService, TeamView } from "./protocol";

/** One team: limits shared by all its keys, enforced once in this object whichever front door asks. */
export class TeamObject extends LimitedObject<TeamRecord> implements TeamService {
  protected readonly scope = "team";

  protected alertOwner(record: TeamRecord): AlertOwner {
    return { kind: "team", id: record.team_id, alias: record.team_alias, team_id: record.team_id };
  }

  protected override alertThresholds(record: TeamRecord): readonly number[] {
    return record.alert_thresholds ?? [];
  }

  protected limitsOf(record: TeamRecord, config: Config): Limits {
    return teamLimits(record, config);
  }

  create(record: TeamRecord): boolean {
    if (this.record) return false;
    this.saveRecord(record);
    return true;
  }

  update(settings: Partial<TeamSettings>): TeamView | null {
    if (!this.record) return null;
    const { team_id, created_at, updated_at: _updated, ...current } = this.record;
    const next: TeamRecord = {
      ...teamSettingsSchema.parse({ ...current, ...settings }),
      team_id,
      created_at,
      updated_at: new Date(this.now()).toISOString(),
    };
    if (next.budget_duration !== this.record.budget_duration) this.restartBudgetPeriod(WHOLE);
    this.saveRecord(next);
    return this.view();
  }

  destroy(): TeamRecord | null {
    return this.forget();
  }

  /** Reserves for a call of one of the team's keys (the key object has already authenticated it). */
  admit(input: AdmitInput): AdmitAnswer | Promise<AdmitAnswer> {
    const record = this.record;
    if (!record) return { kind: "refused", refusal: { code: "team_not_found", message: "The key's team no longer exists." } };
    const now = this.tick(record);
    if (record.blocked) return { kind: "refused", refusal: { code: "team_blocked", message: `Team '${record.team_id}' is blocked.` } };
    if (!modelAllowed(record.models, input.model)) {
      return {
        kind: "refused",
        refusal: { code: "team_model_not_allowed", message: `Team '${record.team_id}' may not use model '${input.model}'.` },
      };
    }
    return this.reserve(record, input, now);
  }

  /** Leases for the team's calls of one model, lent only while the team may call it. */
  lease(request: LeaseRequest): LeaseAnswer {
    const record = this.record;
    if (!record) return { expired: request.close.map((lease) => lease.leaseId), grant: null };
    const allowed = request.want !== null && !record.blocked && modelAllowed(record.models, request.want.model);
    return this.renew(record, request, allowed ? { extras: { teamId: null }, until: null } : null);
  }
}
