import type { Bindings } from "../../bindings";
import type { Call } from "../../call/call";
import type { Config } from "../../config/config";
import type { Deployment } from "../../config/deployments";
import { callUpstream, failureError, UpstreamFailure, type UpstreamTarget } from "../../upstream/forward";

export interface Forwarding {
  readonly env: Bindings;
  readonly config: Config;
  readonly call: Call;
  readonly path: string;
  readonly body: Record<string, unknown>;
  readonly clientRequest: Request;
  /** The answer's headers so far; the deployment that served the call is named in them. */
  readonly headers: Headers;
  readonly waitUntil: (promise: Promise<unknown>) => void;
}

/**
 * Sends the call upstream, moving to another deployment of its group when one fails (429, 5xx or
 * unreachable). Returns the upstream's answer, or throws the client's error after ending the reservations:
 * a refused connection consumed nothing, a timeout or a vanished client may have been billed upstream.
 */
export async function forwardCall({ env, config, call, path, body, clientRequest, headers, waitUntil }: Forwarding): Promise<Response> {
  for (;;) {
    const deployment = call.deployment;
    if (deployment) headers.set("x-litellm-model-id", deployment.id);
    let failure: UpstreamFailure | null = null;
    let answer: Response | null = null;
    try {
      answer = await callUpstream(config, {
        path,
        body: deployment?.model ? { ...body, model: deployment.model } : body,
        clientHeaders: clientRequest.headers,
        requestId: call.requestId,
        clientSignal: clientRequest.signal,
        target: deployment ? targetOf(env, deployment) : undefined,
      });
    } catch (error) {
      if (!(error instanceof UpstreamFailure)) throw error;
      failure = error;
    }
    const deploymentFailed = failure?.kind === "unreachable" || (answer !== null && (answer.status === 429 || answer.status >= 500));
    if (deployment && deploymentFailed && (await call.failOver(cooldownFor(answer, config.deploymentCooldownMs)))) {
      await answer?.body?.cancel();
      continue;
    }
    if (failure) {
      waitUntil(failure.kind === "unreachable" ? call.release() : call.chargeEstimate());
      throw failureError(failure).withHeaders(headers);
    }
    return answer!;
  }
}

/** Where a deployment is, the API it speaks and the key it is called with; a null base URL is the embedded mock. */
export function targetOf(env: Bindings, deployment: Deployment): UpstreamTarget {
  const secret = deployment.api_key_secret ? env[deployment.api_key_secret] : undefined;
  return { baseUrl: deployment.base_url === "" ? null : deployment.base_url, apiKey: typeof secret === "string" ? secret : null, api: deployment.api };
}

/** How long a failed deployment rests: its own retry-after (capped at a minute) or the configured default. */
function cooldownFor(answer: Response | null, fallbackMs: number): number {
  const retryAfter = Number(answer?.headers.get("retry-after") ?? Number.NaN);
  return Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 60_000) : fallbackMs;
}
