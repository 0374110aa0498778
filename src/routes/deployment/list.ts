import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { requireMaster } from "../../http/master-auth";
import type { WindowReport } from "../../limiter";
import { deploymentObject } from "../../stubs";
import { windowUsage } from "../key/present";

const remaining = (limit: number | null, used: number) => (limit === null ? null : Math.max(0, limit - used));

/** A window as the key routes name it, plus what is left of each limit right now (null: no such limit). */
function windowInfo(window: WindowReport) {
  return {
    ...windowUsage(window),
    remaining_tokens: remaining(window.tokensLimit, window.tokens),
    remaining_requests: remaining(window.requestsLimit, window.requests),
  };
}

/** An input or output window (itpm / otpm): tokens counted, the limit, what remains; null when not limited. */
function tokenWindow(window: WindowReport | null, limit: number | undefined) {
  if (limit === undefined) return null;
  const tokens = window?.tokens ?? 0;
  return { tokens, limit, remaining: Math.max(0, limit - tokens), reset_ms: window?.tokensResetMs ?? 0 };
}

/**
 * Every DEPLOYMENTS entry with its live state, read from the deployment's own object (the one that admits its
 * calls): the window's usage and what remains of its limits, calls in flight and waiting, and its cool-down.
 * A deployment that never served a call has no object state yet: its window is empty (`used` false).
 */
export const listDeployments = new Hono<AppEnv>().get("/deployment/list", requireMaster, async (c) => {
  const { deployments, windowMs } = c.var.config;
  const entries = Object.entries(deployments).flatMap(([group, members]) => members.map((deployment) => ({ group, deployment })));
  const reports = await Promise.all(entries.map(({ deployment }) => deploymentObject(c.env, deployment.id).report()));
  const empty: WindowReport = {
    tokens: 0,
    requests: 0,
    tokensLimit: null,
    requestsLimit: null,
    tokensResetMs: 0,
    requestsResetMs: 0,
  };
  return c.json({
    window_seconds: windowMs / 1000,
    deployments: entries.map(({ group, deployment }, index) => {
      const { view, cooldownMs } = reports[index]!;
      const snapshot = view?.snapshot ?? null;
      const window = snapshot?.window ?? { ...empty, tokensLimit: deployment.tpm ?? null, requestsLimit: deployment.rpm ?? null };
      return {
        id: deployment.id,
        model_group: group,
        model: deployment.model ?? group,
        api: deployment.api,
        used: view !== null,
        ...windowInfo(window),
        /** Anthropic's separate input / output limits and their own windows. */
        itpm: deployment.itpm ?? null,
        otpm: deployment.otpm ?? null,
        input_window: tokenWindow(snapshot?.input ?? null, deployment.itpm),
        output_window: tokenWindow(snapshot?.output ?? null, deployment.otpm),
        in_flight: snapshot?.inFlight ?? 0,
        reserved_tokens: snapshot?.reservedTokens ?? 0,
        queue: { length: view?.queue.length ?? 0, oldest_wait_ms: view?.queue.oldestWaitMs ?? null },
        cooling_down: cooldownMs > 0,
        cooldown_ms: cooldownMs,
        refusals: view ? Object.fromEntries(Object.entries(view.refusals).map(([reason, { count, last_at }]) => [reason, { count, last_at: new Date(last_at).toISOString() }])) : {},
      };
    }),
  });
});
