import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Snapshot } from "../limiter";

/** OpenAI's error types, which every SDK maps to its exception classes, plus LiteLLM's budget type. */
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "rate_limit_error"
  | "budget_exceeded"
  | "upstream_error"
  | "server_error";

const error = (status: ContentfulStatusCode, type: ErrorType) => ({ status, type });

/**
 * Every error the gateway answers itself, keyed by its code: the one place that says which status and which
 * OpenAI type a code carries, so call sites name only the code and a message.
 */
export const ERRORS = {
  // 400
  invalid_request: error(400, "invalid_request_error"),
  invalid_json: error(400, "invalid_request_error"),
  ambiguous_credentials: error(400, "invalid_request_error"),
  invalid_key_reference: error(400, "invalid_request_error"),
  missing_key: error(400, "invalid_request_error"),
  key_exists: error(400, "invalid_request_error"),
  team_exists: error(400, "invalid_request_error"),
  team_has_keys: error(400, "invalid_request_error"),
  invalid_end_user: error(400, "invalid_request_error"),
  end_user_exists: error(400, "invalid_request_error"),
  model_price_unknown: error(400, "invalid_request_error"),
  // 401 and 403
  invalid_api_key: error(401, "authentication_error"),
  key_expired: error(401, "authentication_error"),
  key_blocked: error(403, "permission_error"),
  model_not_allowed: error(403, "permission_error"),
  team_blocked: error(403, "permission_error"),
  team_model_not_allowed: error(403, "permission_error"),
  end_user_blocked: error(403, "permission_error"),
  admin_only: error(403, "permission_error"),
  not_own_key: error(403, "permission_error"),
  // 404, 405, 413, 415, 431
  route_not_found: error(404, "not_found_error"),
  key_not_found: error(404, "not_found_error"),
  team_not_found: error(404, "not_found_error"),
  end_user_not_found: error(404, "not_found_error"),
  method_not_allowed: error(405, "invalid_request_error"),
  request_too_large: error(413, "invalid_request_error"),
  unsupported_media_type: error(415, "invalid_request_error"),
  request_header_fields_too_large: error(431, "invalid_request_error"),
  // 429: the limits; request_exceeds_limit says budget_exceeded instead when the limit is money.
  rpm_limit_exceeded: error(429, "rate_limit_error"),
  tpm_limit_exceeded: error(429, "rate_limit_error"),
  itpm_limit_exceeded: error(429, "rate_limit_error"),
  otpm_limit_exceeded: error(429, "rate_limit_error"),
  max_parallel_requests_exceeded: error(429, "rate_limit_error"),
  request_exceeds_limit: error(429, "rate_limit_error"),
  budget_exceeded: error(429, "budget_exceeded"),
  deployment_cooling_down: error(429, "rate_limit_error"),
  queue_full: error(429, "rate_limit_error"),
  calls_waiting: error(429, "rate_limit_error"),
  // 5xx
  internal_error: error(500, "server_error"),
  invalid_configuration: error(500, "server_error"),
  upstream_invalid_response: error(502, "upstream_error"),
  upstream_unreachable: error(502, "upstream_error"),
  client_closed: error(502, "upstream_error"),
  limiter_unavailable: error(503, "server_error"),
  master_key_not_configured: error(503, "server_error"),
  no_deployment_available: error(503, "upstream_error"),
  upstream_timeout: error(504, "upstream_error"),
} as const satisfies Record<string, { status: ContentfulStatusCode; type: ErrorType }>;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorOptions {
  readonly param?: string | null;
  readonly headers?: Record<string, string>;
  /** Extra members of `error`, e.g. the `limit` object of a 429. */
  readonly details?: Record<string, unknown>;
  /**
   * Only where one code keeps its name across contexts that differ in kind: request_exceeds_limit is a
   * budget_exceeded for money, team_not_found is a 400 in a key's fields and a 403 at admission.
   */
  readonly type?: ErrorType;
  readonly status?: ContentfulStatusCode;
  /** The key's limiter state behind a 429, so each dialect can write its own rate-limit headers from it. */
  readonly snapshot?: Snapshot;
}

/** The OpenAI error body every SDK parses; also used for upstream errors passed through with their own code. */
export function errorBody(type: ErrorType, code: string, message: string, options: ErrorOptions = {}): { error: Record<string, unknown> } {
  return { error: { message, type, param: options.param ?? null, code, ...options.details } };
}

/** Any failure that must reach the client as an OpenAI-shaped body with a deliberate status. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: ContentfulStatusCode;
  readonly type: ErrorType;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: ErrorOptions = {},
  ) {
    super(message);
    this.status = options.status ?? ERRORS[code].status;
    this.type = options.type ?? ERRORS[code].type;
  }

  body(): { error: Record<string, unknown> } {
    return errorBody(this.type, this.code, this.message, this.options);
  }

  /** The same error with more headers (the call's id and rate-limit headers); its own headers win. */
  withHeaders(headers: Headers | Record<string, string>): ApiError {
    const merged = { ...Object.fromEntries(headers instanceof Headers ? headers : Object.entries(headers)), ...this.options.headers };
    return new ApiError(this.code, this.message, { ...this.options, headers: merged });
  }

  toResponse(): Response {
    const headers = new Headers(this.options.headers);
    headers.set("content-type", "application/json");
    return new Response(JSON.stringify(this.body()), { status: this.status, headers });
  }
}

export const badRequest = (code: ErrorCode, message: string, param: string | null = null) => new ApiError(code, message, { param });

/** The messages several routes share, written once. */
export const routeNotFound = (method: string, path: string) => new ApiError("route_not_found", `No route ${method} ${path}.`);
export const keyNotFound = (which?: readonly string[]) =>
  new ApiError("key_not_found", which === undefined ? "No such key." : `No such key: ${which.join(", ")}.`);
