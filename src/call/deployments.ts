import type { Bindings } from "../bindings";
import type { Config } from "../config/config";
import { servesDialect, type Deployment } from "../config/deployments";
import type { Dialect } from "../http/dialect";
import { ApiError } from "../http/errors";
import type { Snapshot } from "../limiter";
import type { AdmitAnswer, Owner, Reserved } from "../objects/protocol";
import { deploymentObject, type DeploymentClient } from "../stubs";
import { answerError, noDeployment } from "./owner-error";

/** A deployment chosen for a call, with what its object reserved. */
export interface DeploymentHold {
  readonly deployment: Deployment;
  readonly owner: Pick<Owner, "finish" | "withdraw" | "extend">;
  reserved: Reserved;
}

/**
 * Remaining tokens each deployment reported last, per isolate. It only orders attempts (the deployment's own
 * object decides), and it goes stale quickly because other front doors and settlements change the truth.
 */
const lastRemaining = new Map<string, { remaining: number; at: number }>();
const REMEMBER_MS = 1_000;

/** Stands in for an owner that could not be reached when failing open: nothing to settle there. */
const UNMETERED: DeploymentHold["owner"] = { finish: async () => false, withdraw: async () => false, extend: async () => false };

/** Admits the call under this front door's lease of the deployment, or null. */
export type LocalDeployment = (deployment: Deployment) => DeploymentHold | null;

/** Asks one deployment's object to admit the call; `noWait` when it must answer now. */
export type AskDeployment = (owner: DeploymentClient, id: string, noWait: boolean) => Promise<AdmitAnswer>;

/**
 * Picks a deployment of the model group with capacity for this call, most remaining tokens first, skipping
 * `tried` ones and those cooling down. When none can take it now, a call that may wait waits at the one that
 * frees soonest; otherwise throws the refusal the client must wait least for (429 with scope "deployment"), or
 * 503 when no deployment is left at all.
 */
export async function admitDeployment(
  env: Bindings,
  config: Config,
  model: string,
  group: readonly Deployment[],
  tried: ReadonlySet<string>,
  dialect: Dialect,
  ask: AskDeployment,
  local?: LocalDeployment,
): Promise<DeploymentHold> {
  const now = Date.now();
  const candidates = group
    .filter((deployment) => !tried.has(deployment.id) && servesDialect(deployment, dialect))
    .sort((a, b) => expectedRoom(b, now) - expectedRoom(a, now));
  let soonest: { wait: number; error: ApiError; deployment: Deployment; waitable: boolean } | null = null;
  for (const deployment of candidates) {
    const leased = local?.(deployment);
    if (leased) return leased;
    const owner = deploymentObject(env, deployment.id);
    const answer = await reachOrSkip(config, () => ask(owner, deployment.id, true));
    // Fail-open: an unreachable deployment object does not stop the call from using that deployment.
    if (answer === null) return { deployment, owner: UNMETERED, reserved: { tokens: 0, cost: 0, promptTokens: 0 } };
    if ("snapshot" in answer) rememberRemaining(deployment.id, answer.snapshot);
    if (answer.kind === "admitted") return { deployment, owner, reserved: answer.reserved };
    if (answer.kind === "unknown" || answer.kind === "refused" || answer.kind === "left") continue;
    const wait = answer.kind === "cooling_down" ? Math.ceil(answer.waitMs) : (answer.rejection.retryAfterMs ?? Number.POSITIVE_INFINITY);
    if (soonest === null || wait < soonest.wait) {
      soonest = { wait, deployment, waitable: answer.kind === "rejected", error: answerError("deployment", answer, deployment.id, model) };
    }
  }
  if (soonest?.waitable && Number.isFinite(soonest.wait)) {
    // Nobody has room now: wait (if the call may) in the queue of the deployment that frees soonest.
    const owner = deploymentObject(env, soonest.deployment.id);
    const answer = await reachOrSkip(config, () => ask(owner, soonest.deployment.id, false));
    if (answer?.kind === "admitted") return { deployment: soonest.deployment, owner, reserved: answer.reserved };
    if (answer?.kind === "rejected") throw answerError("deployment", answer, soonest.deployment.id, model);
  }
  throw soonest?.error ?? noDeployment(model);
}

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

/** With LIMITER_FAILURE_MODE=open an unreachable team or deployment object yields null instead of the 503. */
export async function reachOrSkip<T>(config: Config, call: () => Promise<T>): Promise<T | null> {
  try {
    return await call();
  } catch (error) {
    if (config.failOpen && error instanceof ApiError && error.code === "limiter_unavailable") return null;
    throw error;
  }
}
