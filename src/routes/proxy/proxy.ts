import type { Context } from "hono";
import type { z } from "zod";
import type { Bindings } from "../../config/bindings";
import type { Deployment } from "../../config/deployments";
import { sha256Hex } from "../../crypto/secret";
import type { AppEnv } from "../../http/app-env";
import { credential } from "../../http/credentials";
import { ApiError } from "../../http/errors";
import { parseBody } from "../../http/json-body";
import { rateLimitHeaders } from "../../http/rate-limit-headers";
import { costOf, nanosToUsd, usdToNanos, type Price } from "../../limiter";
import { deploymentObject } from "../../objects/stubs";
import { priceOf } from "../../pricing/price-of";
import type { Endpoint } from "../../upstream/endpoints";
import { callUpstream, failureError, UpstreamFailure } from "../../upstream/forward";
import { meterStream, type StreamResult } from "../../upstream/stream-meter";
import { usageOf, type TokenUsage } from "../../upstream/usage";
import { admitCall, admitDeployment, type Hold } from "./admission";

type Body = { model: string; stream?: boolean | null; stream_options?: { include_usage?: boolean | null } | null };

/**
 * Settlement must not be lost to a passing failure to reach an object: retry a few times. If every try fails,
 * the reservation still expires after RESERVATION_TTL_MS and is charged at its estimate, never forgotten.
 */
async function withRetries(attempt: () => Promise<boolean>): Promise<boolean> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (tries >= 4) {
        console.error("settlement failed; the reservation will expire and be charged at its estimate:", error instanceof Error ? error.message : error);
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** tries));
    }
  }
}

/** Upstream attempts per call when deployments fail over (the first one included). */
const MAX_ATTEMPTS = 3;

/** One admitted call: what each owner reserved, and ending all of those reservations exactly once. */
class Call {
  private ended = false;
  constructor(
    readonly requestId: string,
    readonly promptEstimate: number,
    public holds: Hold[],
    private readonly price: Price | null,
  ) {}

  /** The cost of real usage: LiteLLM's own per-call cost when it sent one, else the price table. */
  costOf(usage: TokenUsage, upstreamCost: string | null): number {
    const reported = upstreamCost === null ? Number.NaN : Number(upstreamCost);
    if (Number.isFinite(reported) && reported >= 0) return usdToNanos(reported);
    return this.price ? costOf(this.price, usage.prompt, usage.completion) : 0;
  }

  settle(usage: TokenUsage, cost: number): Promise<unknown> {
    const used = { tokens: usage.prompt + usage.completion, cost };
    return this.end((hold) => hold.owner.finish(this.requestId, used));
  }

  /** The upstream may have done the work but we cannot know how much: each owner keeps what it reserved. */
  chargeEstimate(): Promise<unknown> {
    return this.end((hold) => hold.owner.finish(this.requestId, hold.reserved));
  }

  release(): Promise<unknown> {
    return this.end((hold) => hold.owner.finish(this.requestId, null));
  }

  private end(each: (hold: Hold) => Promise<boolean>): Promise<unknown> {
    if (this.ended) return Promise.resolve();
    this.ended = true;
    return Promise.all(this.holds.map((hold) => withRetries(() => each(hold))));
  }
}

/**
 * The proxy path shared by every OpenAI endpoint: authenticate and reserve (key, team, deployment), forward
 * with fail-over between deployments, then settle the real usage off the client's critical path.
 */
export function proxy<S extends z.ZodType<Body>>(endpoint: Endpoint<S>) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const config = c.var.config;
    const secret = credential(c);
    const body = await parseBody(c, endpoint.schema, config.maxBodyBytes);
    const requestId = crypto.randomUUID();
    const price = priceOf(body.model, config.modelPrices);
    const promptTokens = endpoint.promptTokens(body);
    const input = { requestId, model: body.model, promptTokens, maxOutputTokens: endpoint.outputCap(body), price };
    const admitted = await admitCall(c.env, config, await sha256Hex(secret), input);
    const call = new Call(requestId, promptTokens, admitted.holds, price);
    const headers = new Headers(rateLimitHeaders(admitted.keySnapshot));
    headers.set("x-litellm-call-id", requestId);

    const streaming = body.stream === true;
    const clientWantsUsage = body.stream_options?.include_usage === true;
    const forwarded = streaming && endpoint.usageOption && !clientWantsUsage
      ? { ...body, stream_options: { ...body.stream_options, include_usage: true } }
      : body;

    let deployment = admitted.deployment;
    const tried = new Set<string>();
    let upstream: Response | null = null;
    for (let attempt = 1; upstream === null; attempt++) {
      if (deployment) headers.set("x-litellm-model-id", deployment.config.id);
      let failure: UpstreamFailure | null = null;
      let answer: Response | null = null;
      try {
        answer = await callUpstream(config, {
          path: new URL(c.req.url).pathname,
          body: deployment?.config.model ? { ...forwarded, model: deployment.config.model } : forwarded,
          clientHeaders: c.req.raw.headers,
          requestId,
          clientSignal: c.req.raw.signal,
          target: deployment ? targetOf(c.env, deployment.config) : undefined,
        });
      } catch (error) {
        if (!(error instanceof UpstreamFailure)) throw error;
        failure = error;
      }
      const deploymentFailed = failure?.kind === "unreachable" || (answer !== null && (answer.status === 429 || answer.status >= 500));
      if (deployment && deploymentFailed) {
        // Every deployment that failed rests, the last one tried included, whether or not the call moves on.
        await deploymentObject(c.env, deployment.config.id).coolDown(cooldownFor(answer, config.deploymentCooldownMs));
        if (attempt < MAX_ATTEMPTS) {
          const next = await failOver(c.env, config, call, deployment, tried, input, answer);
          if (next) {
            deployment = next;
            continue;
          }
        }
      }
      if (failure) {
        // Refused connections consumed nothing; a timeout or a vanished client may have been billed upstream.
        c.executionCtx.waitUntil(failure.kind === "unreachable" ? call.release() : call.chargeEstimate());
        throw withHeaders(failureError(failure), headers);
      }
      upstream = answer;
    }

    if (!upstream.ok) {
      c.executionCtx.waitUntil(call.release());
      const secrets = [config.upstreamApiKey, deployment ? targetOf(c.env, deployment.config).apiKey : null];
      return upstreamError(upstream, headers, secrets.filter((secret): secret is string => secret !== null));
    }

    const upstreamCost = upstream.headers.get("x-litellm-response-cost");
    const spendBefore = admitted.keySnapshot.budget.spend;
    if (streaming && upstream.body && (upstream.headers.get("content-type") ?? "").includes("text/event-stream")) {
      const { readable, done } = meterStream(upstream.body, {
        stripUsageChunk: endpoint.usageOption && !clientWantsUsage,
        onEnd: (result) => settleStream(call, result, upstreamCost),
      });
      c.executionCtx.waitUntil(done);
      headers.set("content-type", "text/event-stream; charset=utf-8");
      headers.set("cache-control", "no-cache");
      if (upstreamCost !== null) headers.set("x-litellm-response-cost", upstreamCost);
      return new Response(readable, { status: upstream.status, headers });
    }

    // The answer goes back byte for byte; it is parsed only to read its usage.
    const text = await upstream.text();
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      c.executionCtx.waitUntil(call.chargeEstimate());
      throw withHeaders(new ApiError(502, "upstream_error", "upstream_invalid_response", "Upstream returned a body that is not valid JSON."), headers);
    }
    const usage = usageOf(payload);
    if (!usage) {
      c.executionCtx.waitUntil(call.chargeEstimate());
    } else {
      const cost = call.costOf(usage, upstreamCost);
      c.executionCtx.waitUntil(call.settle(usage, cost));
      // No price and no upstream cost: say so rather than report a silent zero (only possible without a budget).
      if (upstreamCost === null && price === null) headers.set("x-edgequota-cost", "unknown");
      else headers.set("x-litellm-response-cost", String(nanosToUsd(cost)));
      if (admitted.keySnapshot.budget.max !== null) headers.set("x-litellm-key-spend", String(nanosToUsd(spendBefore + cost)));
    }
    headers.set("content-type", "application/json");
    return new Response(text, { status: upstream.status, headers });
  };
}

/** A failure after admission still names its call (x-litellm-call-id) and carries the key's rate-limit headers. */
function withHeaders(error: ApiError, headers: Headers): ApiError {
  return new ApiError(error.status, error.type, error.code, error.message, {
    ...error.options,
    headers: { ...Object.fromEntries(headers), ...error.options.headers },
  });
}

function targetOf(env: Bindings, deployment: Deployment) {
  const secret = deployment.api_key_secret ? env[deployment.api_key_secret] : undefined;
  return { baseUrl: deployment.base_url === "" ? null : deployment.base_url, apiKey: typeof secret === "string" ? secret : null };
}

/** How long a failed deployment rests: its own retry-after (capped at a minute) or the configured default. */
function cooldownFor(answer: Response | null, fallbackMs: number): number {
  const retryAfter = Number(answer?.headers.get("retry-after") ?? Number.NaN);
  return Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 60_000) : fallbackMs;
}

/**
 * The deployment failed (429, 5xx or unreachable) and has been told to rest: its reservation is released, and the
 * call moves to another deployment of the group with capacity. null when there is none: the caller then
 * answers with this attempt's own failure.
 */
async function failOver(
  env: Bindings,
  config: AppEnv["Variables"]["config"],
  call: Call,
  failed: { config: Deployment; hold: Hold },
  tried: Set<string>,
  input: Parameters<typeof admitDeployment>[3],
  answer: Response | null,
): Promise<{ config: Deployment; hold: Hold } | null> {
  tried.add(failed.config.id);
  await failed.hold.owner.finish(input.requestId, null);
  call.holds = call.holds.filter((hold) => hold !== failed.hold);
  const group = config.deployments[input.model] ?? [];
  try {
    const next = await admitDeployment(env, config, group, input, tried);
    call.holds.push(next.hold);
    await answer?.body?.cancel();
    return next;
  } catch {
    return null;
  }
}

/**
 * A stream that reported usage settles exactly. One that did not (cut, client gone, provider ignoring
 * stream_options) is charged the prompt's upper bound plus the tokens actually streamed, never zero.
 */
function settleStream(call: Call, result: StreamResult, upstreamCost: string | null): Promise<unknown> {
  const usage = result.usage ?? { prompt: call.promptEstimate, completion: result.streamedTokens };
  return call.settle(usage, call.costOf(usage, result.usage ? upstreamCost : null));
}

/**
 * Providers echo credentials in some errors ("Incorrect API key provided: sk-..."). Whatever the upstream says,
 * anything shaped like a key is masked before it reaches the client, so the upstream key can never leak.
 */
export function redactSecrets(text: string): string {
  return text.replace(/\b(sk|pk|rk|key)[-_][A-Za-z0-9_\-]{6,}/g, (match) => `${match.slice(0, 3)}...redacted`).replace(/\bBearer\s+\S+/gi, "Bearer [redacted]");
}

/**
 * Upstream errors pass through with their status, marked so clients can tell them from the gateway's own
 * limits: an upstream 429 is the provider's rate limit, not this key's.
 */
async function upstreamError(upstream: Response, headers: Headers, secrets: readonly string[]): Promise<Response> {
  const text = await upstream.text().catch(() => "");
  let message = text.slice(0, 2000);
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === "string") message = parsed.error.message;
  } catch {
    // Not JSON: keep the raw text as the message.
  }
  for (const secret of secrets) if (secret.length >= 8) message = message.split(secret).join("[redacted]");
  message = redactSecrets(message);
  const status = upstream.status >= 500 ? 502 : upstream.status;
  const error = new ApiError(
    status as 400,
    upstream.status === 429 ? "rate_limit_error" : upstream.status >= 500 ? "upstream_error" : "invalid_request_error",
    upstream.status === 429 ? "upstream_rate_limited" : `upstream_${upstream.status}`,
    `Upstream answered ${upstream.status}: ${message}`,
  );
  const response = error.toResponse();
  for (const [name, value] of headers) response.headers.set(name, value);
  response.headers.set("x-edgequota-upstream-status", String(upstream.status));
  const retryAfter = upstream.headers.get("retry-after");
  if (retryAfter !== null) response.headers.set("retry-after", retryAfter);
  return response;
}
