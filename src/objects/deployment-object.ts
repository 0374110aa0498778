import { loadConfig, type Config } from "../config/config";
import { findDeployment } from "../config/deployments";
import type { Limits } from "../limiter";
import type { AlertOwner } from "./budget-alerts";
import { LimitedObject } from "./limited-object";
import { deploymentLimits } from "./limits";
import type { AdmitAnswer, AdmitInput, DeploymentService, LeaseAnswer, LeaseRequest, View } from "./protocol";

export interface DeploymentRecord {
  readonly id: string;
}

const COOLDOWN = "cooldown_until";

/**
 * One upstream deployment's TPM/RPM, counted once for every key and every front door (the "N replicas allow N
 * times the limit" failure cannot happen: there is one counter). Limits come from the DEPLOYMENTS variable.
 */
export class DeploymentObject extends LimitedObject<DeploymentRecord> implements DeploymentService {
  protected readonly scope = "deployment";

  protected alertOwner(record: DeploymentRecord): AlertOwner {
    return { kind: "deployment", id: record.id, alias: null, team_id: null };
  }

  private cooldownUntil = 0;

  protected override load(): void {
    this.cooldownUntil = this.ctx.storage.kv.get<number>(COOLDOWN) ?? 0;
  }

  protected limitsOf(record: DeploymentRecord, config: Config): Limits {
    return deploymentLimits(findDeployment(config.deployments, record.id), config);
  }

  /** The record is made on first use from DEPLOYMENTS: `id` is the name the front door addressed. */
  admit(input: AdmitInput, id: string): AdmitAnswer | Promise<AdmitAnswer> {
    if (!this.record) {
      if (!findDeployment(loadConfig(this.env).deployments, id)) return { kind: "unknown" };
      this.saveRecord({ id });
    }
    const record = this.record!;
    const now = this.tick(record);
    if (now < this.cooldownUntil) {
      return { kind: "cooling_down", waitMs: this.cooldownUntil - now, snapshot: this.view()!.snapshot };
    }
    return this.reserve(record, input, now);
  }

  /** Leases for the deployment's calls, lent only while it is not resting after upstream errors. */
  lease(request: LeaseRequest, id: string): LeaseAnswer {
    if (!this.record) {
      if (request.close.length > 0 || !findDeployment(loadConfig(this.env).deployments, id)) return { expired: request.close.map((lease) => lease.leaseId), grant: null };
      this.saveRecord({ id });
    }
    const record = this.record!;
    const resting = this.now() < this.cooldownUntil;
    return this.renew(record, request, request.want !== null && !resting ? { extras: { teamId: null }, until: null } : null);
  }

  report(): { view: View<DeploymentRecord> | null; cooldownMs: number } {
    return { view: this.view(), cooldownMs: Math.max(0, this.cooldownUntil - this.now()) };
  }

  coolDown(ms: number): void {
    const now = this.now();
    const until = now + ms;
    if (until <= this.cooldownUntil) return;
    // Announced when a rest begins, not each time a failing deployment's rest is extended.
    const resting = this.cooldownUntil > now;
    this.cooldownUntil = until;
    this.ctx.storage.kv.put(COOLDOWN, until);
    if (!resting && this.record) {
      this.alerts.event(this.alertOwner(this.record), "deployment_cooldown", String(until), { cooldown_until: new Date(until).toISOString() }, now);
    }
  }
}
