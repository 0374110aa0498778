import type { Call } from "../../call/call";
import { ApiError } from "../../http/errors";
import { nanosToUsd } from "../../limiter";
import { meterStream, type StreamResult } from "../../upstream/stream-meter";
import type { UsageReader } from "../../upstream/usage";

export interface Answer {
  readonly call: Call;
  readonly upstream: Response;
  /** How this endpoint's answers report usage. */
  readonly reader: UsageReader;
  readonly headers: Headers;
  readonly waitUntil: (promise: Promise<unknown>) => void;
}

/**
 * A streamed answer goes out event by event as it arrives; the call settles when the stream ends, inside
 * waitUntil, from the usage the stream reported.
 */
export function respondStream({ call, upstream, reader, headers, waitUntil }: Answer, stripUsageChunk: boolean): Response {
  const upstreamCost = upstream.headers.get("x-litellm-response-cost");
  const { readable, done } = meterStream(upstream.body!, {
    reader,
    stripUsageChunk,
    onProgress: (streamed) => call.progress(streamed),
    onEnd: (result) => settleStream(call, result, upstreamCost),
  });
  waitUntil(done);
  headers.set("content-type", "text/event-stream; charset=utf-8");
  headers.set("cache-control", "no-cache");
  if (upstreamCost !== null) headers.set("x-litellm-response-cost", upstreamCost);
  return new Response(readable, { status: upstream.status, headers });
}

/** The answer goes back byte for byte; it is parsed only to read its usage. */
export async function respondJson({ call, upstream, reader, headers, waitUntil }: Answer): Promise<Response> {
  const upstreamCost = upstream.headers.get("x-litellm-response-cost");
  const text = await upstream.text();
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    waitUntil(call.chargeEstimate());
    throw new ApiError("upstream_invalid_response", "Upstream returned a body that is not valid JSON.").withHeaders(headers);
  }
  const split = reader.answer(payload);
  if (!split) {
    waitUntil(call.chargeEstimate());
  } else {
    const used = call.costOf(split, upstreamCost);
    waitUntil(call.settle(split, used));
    // No price and no upstream cost: say so rather than report a silent zero (only possible without a budget).
    if (upstreamCost === null && call.input.price === null) headers.set("x-edgequota-cost", "unknown");
    else headers.set("x-litellm-response-cost", String(nanosToUsd(used.cost)));
    const budget = call.keySnapshot.budget;
    if (budget.max !== null) headers.set("x-litellm-key-spend", String(nanosToUsd(budget.spend + used.cost)));
  }
  headers.set("content-type", "application/json");
  return new Response(text, { status: upstream.status, headers });
}

/**
 * A stream that reported usage settles exactly. One that did not (cut, client gone, provider ignoring
 * stream_options) is charged the prompt's upper bound plus the tokens actually streamed, never zero. When it
 * had reported its prompt (Anthropic's message_start), that prompt stands, with the larger output count.
 */
function settleStream(call: Call, result: StreamResult, upstreamCost: string | null): Promise<unknown> {
  const split = result.usage ??
    (result.partial
      ? { ...result.partial, completion: Math.max(result.partial.completion, result.streamedTokens) }
      : { prompt: call.input.promptTokens, completion: result.streamedTokens });
  return call.settle(split, call.costOf(split, result.usage ? upstreamCost : null));
}
