import { loadConfig, type Config } from "../config/config";
import { findDeployment } from "../config/deployments";
import { UNLIMITED_BUDGET, type Limits, type Snapshot } from "../limiter";
import { LimitedObject, type AdmitInput, type Reservation } from "./limited-object";

export interface DeploymentRecord {
  readonly id: string;
}

export type DeploymentAdmitResult =
  | Reservation
  | { readonly ok: false; readonly coolingDownMs: number; readonly snapshot: Snapshot }
  | { readonly ok: false; readonly unknown: true };

const COOLDOWN = "cooldown_until";

/**
 * One upstream deployment's TPM/RPM, counted once for every key and every front door (the "N replicas allow N
 * times the limit" failure cannot happen: there is one counter). Limits come from the DEPLOYMENTS variable.
 */
export class DeploymentObject extends LimitedObject<DeploymentRecord> {
  private cooldownUntil = 0;

  protected override load(): void {
    this.cooldownUntil = this.ctx.storage.kv.get<number>(COOLDOWN) ?? 0;
  }

  protected limitsOf(record: DeploymentRecord, config: Config): Limits {
    const deployment = findDeployment(config.deployments, record.id);
    return {
      windowMs: config.windowMs,
      tpm: deployment?.tpm ?? null,
      rpm: deployment?.rpm ?? null,
      maxParallel: null,
      budget: UNLIMITED_BUDGET,
      models: {},
      defaultOutputTokens: config.defaultOutputTokens,
      reservationTtlMs: config.reservationTtlMs,
    };
  }

  admit(deploymentId: string, input: AdmitInput): DeploymentAdmitResult {
    if (!this.record) {
      if (!findDeployment(loadConfig(this.env).deployments, deploymentId)) return { ok: false, unknown: true };
      this.saveRecord({ id: deploymentId });
    }
    const record = this.record!;
    const now = this.tick(record);
    if (now < this.cooldownUntil) {
      return { ok: false, coolingDownMs: this.cooldownUntil - now, snapshot: this.view()!.snapshot };
    }
    return this.reserve(record, input, now);
  }

  /** The upstream answered 429 or 5xx: skip this deployment for a while. */
  coolDown(ms: number): void {
    const until = this.now() + ms;
    if (until <= this.cooldownUntil) return;
    this.cooldownUntil = until;
    this.ctx.storage.kv.put(COOLDOWN, until);
  }
}
