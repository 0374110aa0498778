import type { Context } from "hono";
import type { z } from "zod";
import { Call } from "../../call/call";
import { rememberRoom, roomOf } from "../../call/room-hints";
import { sha256Hex } from "../../crypto/secret";
import type { AppEnv } from "../../http/app-env";
import { credential } from "../../http/credentials";
import { parseBody } from "../../http/json-body";
import { anthropicRateLimitHeaders, rateLimitHeaders } from "../../http/rate-limit-headers";
import type { AdmitInput } from "../../objects/protocol";
import { CallObserver } from "../../observability/observer";
import { priceOf } from "../../pricing/price-of";
import type { Endpoint } from "../../upstream/endpoints";
import { estimatePrompt, tokenizerFor } from "../../upstream/prompt";
import { upstreamError } from "../../upstream/upstream-error";
import { endUserOf } from "./end-user";
import { forwardCall, targetOf } from "./forward-call";
import { maxWaitOf } from "./max-wait";
import { respondJson, respondStream } from "./respond";

type Body = { model: string; stream?: boolean | null; stream_options?: { include_usage?: boolean | null } | null };

/**
 * The proxy path shared by every metered endpoint, OpenAI's and Anthropic's: parse, admit the call at its owners,
 * forward it (with fail-over between deployments), answer; the real usage settles off the client's critical path.
 * Every request with a key is recorded once when it has ended (analytics and a log line), refused ones included.
 */
export function proxy<S extends z.ZodType<Body>>(endpoint: Endpoint<S>) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const token = await sha256Hex(credential(c));
    const observer = new CallObserver(c.env, endpoint, token, (promise) => c.executionCtx.waitUntil(promise));
    try {
      const response = await proxyCall(c, endpoint, token, observer);
      observer.answered(response);
      return response;
    } catch (error) {
      observer.failed(error);
      throw error;
    }
  };
}

/** One metered call from its body to its answer; the observer is told what it learns along the way. */
async function proxyCall<S extends z.ZodType<Body>>(c: Context<AppEnv>, endpoint: Endpoint<S>, token: string, observer: CallObserver): Promise<Response> {
  const config = c.var.config;
  const body = await parseBody(c, endpoint.schema, config.maxBodyBytes);
  const endUser = endUserOf(c, endpoint.endUser(body));
  const maxWaitMs = maxWaitOf(c);
  const encoding = await tokenizerFor(body.model, config.modelTokenizers);
  const quote = await priceOf(body.model, config.modelPrices);
  const input: AdmitInput = {
    requestId: crypto.randomUUID(),
    model: body.model,
    ...estimatePrompt(endpoint.prompt(body), encoding, roomOf(token)),
    maxOutputTokens: endpoint.outputCap(body),
    price: quote?.price ?? null,
    priceSource: quote?.source ?? null,
    cacheWrites: endpoint.cacheWrites(body),
    endUser,
  };
  observer.describe({ model: body.model, stream: body.stream === true, endUser, requestId: input.requestId });
  const waitUntil = (promise: Promise<unknown>) => c.executionCtx.waitUntil(promise);
  const call = await Call.admit(c.env, config, token, { input, dialect: endpoint.dialect, maxWaitMs, signal: c.req.raw.signal, waitUntil });
  observer.admitted(call);
  rememberRoom(token, call.keySnapshot);
  const headers = new Headers(rateLimitHeaders(call.keySnapshot));
  if (endpoint.dialect === "anthropic") for (const [name, value] of Object.entries(anthropicRateLimitHeaders(call.keySnapshot))) headers.set(name, value);
  headers.set("x-litellm-call-id", call.requestId);
  if (call.queuedMs > 0) headers.set("x-edgequota-queue-ms", String(Math.round(call.queuedMs)));

  // The gateway needs the usage chunk to settle a stream; the client sees it only if it asked for it.
  const streaming = body.stream === true;
  const stripUsageChunk = streaming && endpoint.usageOption && body.stream_options?.include_usage !== true;
  const forwarded = stripUsageChunk ? { ...body, stream_options: { ...body.stream_options, include_usage: true } } : body;

  const path = new URL(c.req.url).pathname;
  const upstream = await forwardCall({ env: c.env, config, call, path, body: forwarded, clientRequest: c.req.raw, headers, waitUntil });
  if (!upstream.ok) {
    waitUntil(call.release());
    const secrets = [config.upstreamApiKey, call.deployment ? targetOf(c.env, call.deployment).apiKey : null];
    return upstreamError(upstream, headers, secrets.filter((value): value is string => value !== null), endpoint.dialect);
  }
  const answer = { call, upstream, reader: endpoint.usage, headers, waitUntil };
  if (streaming && upstream.body && (upstream.headers.get("content-type") ?? "").includes("text/event-stream")) {
    return respondStream(answer, stripUsageChunk);
  }
  return respondJson(answer);
}
