import type { Bindings } from "../../config/bindings";
import type { Config } from "../../config/config";
import type { Deployment } from "../../config/deployments";
import { ApiError } from "../../http/errors";
import { limitError, refusalError } from "../../http/limit-error";
import type { Rejection, Snapshot } from "../../limiter";
import type { AdmitInput, CallUsage, Reserved } from "../../objects/limited-object";
import { deploymentObject, keyObject, teamObject } from "../../objects/stubs";

/** One limiter owner holding a reservation for this call. */
export interface Hold {
  readonly owner: { finish(requestId: string, used: CallUsage | null): Promise<boolean>; withdraw(requestId: string): Promise<boolean> };
  readonly reserved: Reserved;
}

export interface Admitted {
  readonly keySnapshot: Snapshot;
  /** Key first, then team, then deployment. */
  readonly holds: Hold[];
  readonly deployment: { config: Deployment; hold: Hold } | null;
}

/**
 * Remaining tokens each deployment reported last, per isolate. It only orders attempts (the deployment's own
 * object decides), and it goes stale quickly because other front doors and settlements change the truth.
 */
const lastRemaining = new Map<string, { remaining: number; at: number }>();
const REMEMBER_MS = 1_000;

/**
 * Reserves a call at its key, then its team, then its deployment, in that order. A refusal anywhere withdraws
 * what was reserved before it, so no partial reservation survives.
 */
export async function admitCall(env: Bindings, config: Config, token: string, input: AdmitInput): Promise<Admitted> {
  const key = keyObject(env, token);
  // Without the key's own object the key cannot even be authenticated: always fail closed here.
  const admitted = await key.admit(input);
  if (!admitted.ok) {
    if ("refusal" in admitted) throw refusalError(admitted.refusal);
    throw limitError("key", admitted.rejection, admitted.snapshot);
  }
  const holds: Hold[] = [{ owner: key, reserved: admitted.reservation }];
  try {
    if (admitted.teamId !== null) {
      const team = teamObject(env, admitted.teamId);
      const teamAdmitted = await reachOrSkip(config, () => team.admit(input));
      if (teamAdmitted === null) {
        // Fail-open: the team could not be reached and the operator chose availability over its limits.
      } else if (!teamAdmitted.ok) {
        if ("refusal" in teamAdmitted) throw new ApiError(403, "permission_error", teamAdmitted.refusal.code, teamAdmitted.refusal.message);
        throw limitError("team", teamAdmitted.rejection, null);
      }
      else holds.push({ owner: team, reserved: teamAdmitted.reservation });
    }
    const group = config.deployments[input.model];
    const deployment = group ? await admitDeployment(env, config, group, input, new Set()) : null;
    if (deployment) holds.push(deployment.hold);
    return { keySnapshot: admitted.snapshot, holds, deployment };
  } catch (error) {
    await withdrawAll(holds, input.requestId);
    throw error;
  }
}

export async function withdrawAll(holds: readonly Hold[], requestId: string): Promise<void> {
  await Promise.all(holds.map((hold) => hold.owner.withdraw(requestId)));
}

/**
 * Picks a deployment of the model group with capacity for this call, most remaining tokens first, skipping
 * `tried` ones and those cooling down. When none can take it, answers 429 with scope "deployment" and the
 * shortest exact wait among them.
 */
export async function admitDeployment(
  env: Bindings,
  config: Config,
  group: readonly Deployment[],
  input: AdmitInput,
  tried: ReadonlySet<string>,
): Promise<{ config: Deployment; hold: Hold }> {
  const now = Date.now();
  const candidates = group
    .filter((deployment) => !tried.has(deployment.id))
    .sort((a, b) => expectedRoom(b, now) - expectedRoom(a, now));
  let soonest: { wait: number; error: () => ApiError } | null = null;
  for (const deployment of candidates) {
    const owner = deploymentObject(env, deployment.id);
    const result = await reachOrSkip(config, () => owner.admit(deployment.id, input));
    // Fail-open: an unreachable deployment object does not stop the call from using that deployment.
    if (result === null) return { config: deployment, hold: { owner: UNMETERED, reserved: { tokens: 0, cost: 0 } } };
    if ("snapshot" in result) rememberRemaining(deployment.id, result.snapshot);
    if (result.ok) return { config: deployment, hold: { owner, reserved: result.reservation } };
    let refusal: { wait: number; error: () => ApiError } | null = null;
    if ("rejection" in result) {
      const rejection = result.rejection;
      refusal = { wait: waitOf(rejection), error: () => limitError("deployment", rejection, null) };
    } else if ("coolingDownMs" in result) {
      const wait = Math.ceil(result.coolingDownMs);
      refusal = { wait, error: () => coolingDown(deployment.id, wait) };
    }
    if (refusal && (soonest === null || refusal.wait < soonest.wait)) soonest = refusal;
  }
  if (soonest === null) {
    throw new ApiError(503, "upstream_error", "no_deployment_available", `No deployment of model '${input.model}' is available.`);
  }
  throw soonest.error();
}

/** Every deployment that could take the call is resting after upstream errors. */
function coolingDown(id: string, wait: number): ApiError {
  return new ApiError(429, "rate_limit_error", "deployment_cooling_down",
    `Every deployment of this model is cooling down after upstream errors; '${id}' is available again in ${wait} ms.`, {
      headers: { "retry-after-ms": String(wait), "retry-after": String(Math.ceil(wait / 1000)), "x-should-retry": "true" },
      details: { limit: { scope: "deployment", name: "cooldown", model: null, limit: null, remaining: 0, requested: 1, resets_in_ms: wait } },
    });
}

const waitOf = (rejection: Rejection) => rejection.retryAfterMs ?? Number.POSITIVE_INFINITY;

function rememberRemaining(id: string, snapshot: Snapshot): void {
  const { tokensLimit, tokens } = snapshot.window;
  lastRemaining.set(id, { remaining: tokensLimit === null ? Number.POSITIVE_INFINITY : tokensLimit - tokens, at: Date.now() });
}

/** Recently reported room, else the configured limit (an untried or long-unused deployment is likely empty). */
function expectedRoom(deployment: Deployment, now: number): number {
  const remembered = lastRemaining.get(deployment.id);
  if (remembered && now - remembered.at < REMEMBER_MS) return remembered.remaining;
  return deployment.tpm ?? Number.POSITIVE_INFINITY;
}

/** Stands in for an owner that could not be reached when failing open: nothing to settle there. */
const UNMETERED: Hold["owner"] = { finish: async () => false, withdraw: async () => false };

/** With LIMITER_FAILURE_MODE=open an unreachable team or deployment object yields null instead of the 503. */
async function reachOrSkip<T>(config: Config, call: () => Promise<T>): Promise<T | null> {
  try {
    return await call();
  } catch (error) {
    if (config.failOpen && error instanceof ApiError && error.code === "limiter_unavailable") return null;
    throw error;
  }
}
