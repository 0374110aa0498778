import type { ApiError } from "./errors";
import { anthropicRateLimitHeaders } from "./rate-limit-headers";

/**
 * The API dialect a request speaks, from its path: Anthropic's Messages API answers errors and rate-limit
 * headers in Anthropic's shapes (its SDKs parse nothing else); every other route speaks OpenAI's.
 */
export type Dialect = "openai" | "anthropic";

export function dialectOf(path: string): Dialect {
  return /^(\/v1)?\/messages(\/|$)/.test(path) ? "anthropic" : "openai";
}

/** Anthropic's error types by status (its API reference); the SDKs pick their exception class by status. */
function anthropicType(status: number): string {
  switch (status) {
    case 400:
    case 405:
    case 415:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
    case 431:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 504:
      return "timeout_error";
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

/**
 * Anthropic's envelope: {"type": "error", "error": {"type", "message"}}. The gateway's own code and, on a 429,
 * which limit tripped ride along as extra members of `error` (clients ignore members they do not know).
 */
export function anthropicErrorBody(status: number, message: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: "error", error: { type: anthropicType(status), message, ...extra } };
}

/** The client's response for a gateway error, in the request's dialect. */
export function errorResponse(error: ApiError, dialect: Dialect): Response {
  if (dialect === "openai") return error.toResponse();
  const { limit } = (error.options.details ?? {}) as { limit?: unknown };
  const body = anthropicErrorBody(error.status, error.message, { code: error.code, ...(limit !== undefined ? { limit } : {}) });
  const headers = new Headers(error.options.headers);
  if (error.options.snapshot) for (const [name, value] of Object.entries(anthropicRateLimitHeaders(error.options.snapshot))) headers.set(name, value);
  headers.set("content-type", "application/json");
  return new Response(JSON.stringify(body), { status: error.status, headers });
}
