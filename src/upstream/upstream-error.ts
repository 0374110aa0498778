import { anthropicErrorBody, type Dialect } from "../http/dialect";
import { errorBody } from "../http/errors";

/**
 * Providers echo credentials in some errors ("Incorrect API key provided: sk-..."). Whatever the upstream says,
 * anything shaped like a key is masked before it reaches the client, so the upstream key can never leak.
 */
export function redactSecrets(text: string): string {
  return text.replace(/\b(sk|pk|rk|key)[-_][A-Za-z0-9_\-]{6,}/g, (match) => `${match.slice(0, 3)}...redacted`).replace(/\bBearer\s+\S+/gi, "Bearer [redacted]");
}

/**
 * Upstream errors pass through with their status, marked so clients can tell them from the gateway's own
 * limits: an upstream 429 is the provider's rate limit, not this key's. The code carries the upstream's
 * status (upstream_400, ...), so it is not one of the gateway's own codes.
 */
export async function upstreamError(upstream: Response, headers: Headers, secrets: readonly string[], dialect: Dialect = "openai"): Promise<Response> {
  const text = await upstream.text().catch(() => "");
  let message = text.slice(0, 2000);
  try {
    // OpenAI's envelope and Anthropic's both keep the message in error.message.
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === "string") message = parsed.error.message;
  } catch {
    // Not JSON: keep the raw text as the message.
  }
  for (const secret of secrets) if (secret.length >= 8) message = message.split(secret).join("[redacted]");
  message = redactSecrets(message);
  const status = upstream.status >= 500 ? 502 : upstream.status;
  const limited = upstream.status === 429;
  const code = limited ? "upstream_rate_limited" : `upstream_${upstream.status}`;
  const summary = `Upstream answered ${upstream.status}: ${message}`;
  // Anthropic's overloaded 529 stays a 529 for its SDKs (they retry it); other 5xx become the gateway's 502.
  const anthropicStatus = upstream.status === 529 ? 529 : status;
  const body = dialect === "anthropic"
    ? anthropicErrorBody(anthropicStatus, summary, { code })
    : errorBody(limited ? "rate_limit_error" : upstream.status >= 500 ? "upstream_error" : "invalid_request_error", code, summary);
  const response = new Response(JSON.stringify(body), { status: dialect === "anthropic" ? anthropicStatus : status, headers });
  response.headers.set("content-type", "application/json");
  response.headers.set("x-edgequota-upstream-status", String(upstream.status));
  const retryAfter = upstream.headers.get("retry-after");
  if (retryAfter !== null) response.headers.set("retry-after", retryAfter);
  return response;
}
