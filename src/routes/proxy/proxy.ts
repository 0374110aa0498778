import type { Context } from "hono";
import type { z } from "zod";
import { sha256Hex } from "../../crypto/secret";
import type { AppEnv } from "../../http/app-env";
import { credential } from "../../http/credentials";
import { ApiError } from "../../http/errors";
import { parseBody } from "../../http/json-body";
import { limitError, refusalError } from "../../http/limit-error";
import { rateLimitHeaders } from "../../http/rate-limit-headers";
import { costOf, nanosToUsd, usdToNanos, type Price } from "../../limiter";
import { keyObject, type KeyClient } from "../../objects/stubs";
import { priceOf } from "../../pricing/price-of";
import type { Endpoint } from "../../upstream/endpoints";
import { callUpstream, UpstreamFailure } from "../../upstream/forward";
import { meterStream, type StreamResult } from "../../upstream/stream-meter";
import { usageOf, type TokenUsage } from "../../upstream/usage";

type Body = { model: string; stream?: boolean | null; stream_options?: { include_usage?: boolean | null } | null };

/** One admitted call: what was reserved and how to end the reservation exactly once. */
class Call {
  private ended = false;
  constructor(
    private readonly key: KeyClient,
    readonly requestId: string,
    readonly promptEstimate: number,
    readonly reserved: { tokens: number; cost: number },
    private readonly price: Price | null,
  ) {}

  /** The cost of real usage: LiteLLM's own per-call cost when it sent one, else the price table. */
  costOf(usage: TokenUsage, upstreamCost: string | null): number {
    const reported = upstreamCost === null ? Number.NaN : Number(upstreamCost);
    if (Number.isFinite(reported) && reported >= 0) return usdToNanos(reported);
    return this.price ? costOf(this.price, usage.prompt, usage.completion) : 0;
  }

  settle(usage: TokenUsage, cost: number): Promise<unknown> {
    return this.end({ tokens: usage.prompt + usage.completion, cost });
  }

  /** The upstream may have done the work but we cannot know how much: charge what was reserved. */
  chargeEstimate(): Promise<unknown> {
    return this.end(this.reserved);
  }

  release(): Promise<unknown> {
    return this.end(null);
  }

  private end(used: { tokens: number; cost: number } | null): Promise<unknown> {
    if (this.ended) return Promise.resolve();
    this.ended = true;
    return this.key.finish(this.requestId, used);
  }
}

/**
 * The proxy path shared by every OpenAI endpoint: authenticate and reserve in one round trip to the key's
 * object, forward, then settle the real usage off the client's critical path.
 */
export function proxy<S extends z.ZodType<Body>>(endpoint: Endpoint<S>) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const config = c.var.config;
    const secret = credential(c);
    const body = await parseBody(c, endpoint.schema, config.maxBodyBytes);
    const key = keyObject(c.env, await sha256Hex(secret));
    const requestId = crypto.randomUUID();
    const price = priceOf(body.model, config.modelPrices);
    const promptTokens = endpoint.promptTokens(body);
    const admitted = await key.admit({ requestId, model: body.model, promptTokens, maxOutputTokens: endpoint.outputCap(body), price });
    if (!admitted.ok) {
      if ("refusal" in admitted) throw refusalError(admitted.refusal);
      throw limitError("key", admitted.rejection, admitted.snapshot);
    }
    const call = new Call(key, requestId, promptTokens, admitted.reservation, price);
    const headers = new Headers(rateLimitHeaders(admitted.snapshot));
    headers.set("x-litellm-call-id", requestId);

    const streaming = body.stream === true;
    const clientWantsUsage = body.stream_options?.include_usage === true;
    const forwarded = streaming && endpoint.usageOption && !clientWantsUsage
      ? { ...body, stream_options: { ...body.stream_options, include_usage: true } }
      : body;

    let upstream: Response;
    try {
      upstream = await callUpstream(config, {
        path: new URL(c.req.url).pathname,
        body: forwarded,
        clientHeaders: c.req.raw.headers,
        requestId,
        clientSignal: c.req.raw.signal,
      });
    } catch (error) {
      if (!(error instanceof UpstreamFailure)) throw error;
      // Refused connections consumed nothing; a timeout or a vanished client may have been billed upstream.
      c.executionCtx.waitUntil(error.kind === "unreachable" ? call.release() : call.chargeEstimate());
      throw error.kind === "timeout"
        ? new ApiError(504, "upstream_error", "upstream_timeout", error.message)
        : new ApiError(502, "upstream_error", error.kind === "unreachable" ? "upstream_unreachable" : "client_closed", error.message);
    }

    if (!upstream.ok) {
      c.executionCtx.waitUntil(call.release());
      return upstreamError(upstream, headers);
    }

    const upstreamCost = upstream.headers.get("x-litellm-response-cost");
    const spendBefore = admitted.snapshot.budget.spend;
    if (streaming && upstream.body && (upstream.headers.get("content-type") ?? "").includes("text/event-stream")) {
      const { readable, done } = meterStream(upstream.body, {
        stripUsageChunk: endpoint.usageOption && !clientWantsUsage,
        onEnd: (result) => void settleStream(call, result, upstreamCost),
      });
      c.executionCtx.waitUntil(done);
      headers.set("content-type", "text/event-stream; charset=utf-8");
      headers.set("cache-control", "no-cache");
      if (upstreamCost !== null) headers.set("x-litellm-response-cost", upstreamCost);
      return new Response(readable, { status: upstream.status, headers });
    }

    let payload: unknown;
    try {
      payload = await upstream.json();
    } catch {
      c.executionCtx.waitUntil(call.chargeEstimate());
      throw new ApiError(502, "upstream_error", "upstream_invalid_response", "Upstream returned a body that is not valid JSON.");
    }
    const usage = usageOf(payload);
    if (!usage) {
      c.executionCtx.waitUntil(call.chargeEstimate());
    } else {
      const cost = call.costOf(usage, upstreamCost);
      c.executionCtx.waitUntil(call.settle(usage, cost));
      headers.set("x-litellm-response-cost", String(nanosToUsd(cost)));
      if (admitted.snapshot.budget.max !== null) headers.set("x-litellm-key-spend", String(nanosToUsd(spendBefore + cost)));
    }
    headers.set("content-type", "application/json");
    return new Response(JSON.stringify(payload), { status: upstream.status, headers });
  };
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
 * Upstream errors pass through with their status, marked so clients can tell them from the gateway's own
 * limits: an upstream 429 is the provider's rate limit, not this key's.
 */
async function upstreamError(upstream: Response, headers: Headers): Promise<Response> {
  const text = await upstream.text().catch(() => "");
  let message = text.slice(0, 2000);
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === "string") message = parsed.error.message;
  } catch {
    // Not JSON: keep the raw text as the message.
  }
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
