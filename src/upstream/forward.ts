import type { Config } from "../config/config";
import { ApiError } from "../http/errors";
import { mockUpstream } from "../mock-upstream";

/** Why no upstream answer arrived; decides both the client's status and how the reservation ends. */
export class UpstreamFailure extends Error {
  override readonly name = "UpstreamFailure";
  constructor(
    readonly kind: "unreachable" | "timeout" | "client_gone",
    message: string,
  ) {
    super(message);
  }
}

/** The client's answer to a failure: 504 for a timeout, 502 otherwise. */
export function failureError(failure: UpstreamFailure): ApiError {
  if (failure.kind === "timeout") return new ApiError("upstream_timeout", failure.message);
  return new ApiError(failure.kind === "unreachable" ? "upstream_unreachable" : "client_closed", failure.message);
}

/** Headers never forwarded: the client's credentials, hop-by-hop headers, and what the platform sets itself. */
const DROPPED = new Set([
  "authorization", "x-api-key", "api-key", "host", "cookie", "content-length", "connection", "keep-alive",
  "transfer-encoding", "upgrade", "te", "trailer", "proxy-authorization", "accept-encoding",
]);

export function upstreamUrl(base: string, path: string): string {
  // A base that already ends in /v1 (the common way to write OpenAI's URL) must not become /v1/v1.
  if (base.endsWith("/v1") && (path === "/v1" || path.startsWith("/v1/"))) return base + path.slice(3);
  return base + path;
}

export interface UpstreamRequest {
  readonly path: string;
  /** JSON body of a POST; undefined makes it a GET. */
  readonly body?: unknown;
  readonly clientHeaders: Headers;
  readonly requestId: string;
  /** Fires when the client goes away. */
  readonly clientSignal: AbortSignal;
  /** A specific deployment to call instead of UPSTREAM_BASE_URL / UPSTREAM_API_KEY; baseUrl null = mock. */
  readonly target?: UpstreamTarget;
}

export interface UpstreamTarget {
  readonly baseUrl: string | null;
  readonly apiKey: string | null;
  /** "anthropic": Anthropic's own API, which takes its key in x-api-key and needs anthropic-version. */
  readonly api?: "openai" | "anthropic";
}

/** The version Anthropic's SDKs send; used when the client sent none (a client's own always passes through). */
export const ANTHROPIC_VERSION = "2023-06-01";

/**
 * Sends the request to the configured upstream (or the embedded mock) with the upstream's own key. The
 * timeout covers the whole exchange, streamed body included, so a call can never outlive its reservation.
 */
export async function callUpstream(config: Config, request: UpstreamRequest): Promise<Response> {
  const headers = new Headers();
  for (const [name, value] of request.clientHeaders) {
    if (!DROPPED.has(name) && !name.startsWith("cf-")) headers.set(name, value);
  }
  if (request.body !== undefined) headers.set("content-type", "application/json");
  headers.set("x-litellm-call-id", request.requestId);
  const baseUrl = request.target ? request.target.baseUrl : config.upstreamBaseUrl;
  const apiKey = request.target ? request.target.apiKey : config.upstreamApiKey;
  if (request.target?.api === "anthropic") {
    if (apiKey) headers.set("x-api-key", apiKey);
    if (!headers.has("anthropic-version")) headers.set("anthropic-version", ANTHROPIC_VERSION);
  } else if (apiKey) headers.set("authorization", `Bearer ${apiKey}`);

  const timeout = AbortSignal.timeout(config.upstreamTimeoutMs);
  const signal = AbortSignal.any([timeout, request.clientSignal]);
  const base = baseUrl ?? "http://mock.upstream";
  const upstream = new Request(upstreamUrl(base, request.path), {
    method: request.body === undefined ? "GET" : "POST",
    headers,
    body: request.body === undefined ? null : JSON.stringify(request.body),
    signal,
  });
  try {
    return await (baseUrl === null ? mockUpstream(upstream) : fetch(upstream));
  } catch (error) {
    if (timeout.aborted) throw new UpstreamFailure("timeout", `Upstream did not answer within ${config.upstreamTimeoutMs} ms.`);
    if (request.clientSignal.aborted) throw new UpstreamFailure("client_gone", "Client disconnected.");
    throw new UpstreamFailure("unreachable", `Upstream unreachable: ${(error as Error).message}`);
  }
}
