import type { ContentfulStatusCode } from "hono/utils/http-status";

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

export interface ErrorOptions {
  readonly param?: string | null;
  readonly headers?: Record<string, string>;
  /** Extra members of `error`, e.g. the `limit` object of a 429. */
  readonly details?: Record<string, unknown>;
}

/** Any failure that must reach the client as an OpenAI-shaped body with a deliberate status. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: ContentfulStatusCode,
    readonly type: ErrorType,
    readonly code: string,
    message: string,
    readonly options: ErrorOptions = {},
  ) {
    super(message);
  }

  body(): { error: Record<string, unknown> } {
    return {
      error: { message: this.message, type: this.type, param: this.options.param ?? null, code: this.code, ...this.options.details },
    };
  }

  toResponse(): Response {
    const headers = new Headers(this.options.headers);
    headers.set("content-type", "application/json");
    return new Response(JSON.stringify(this.body()), { status: this.status, headers });
  }
}

export const badRequest = (code: string, message: string, param: string | null = null) =>
  new ApiError(400, "invalid_request_error", code, message, { param });
export const unauthorized = (message: string) => new ApiError(401, "authentication_error", "invalid_api_key", message);
export const forbidden = (code: string, message: string) => new ApiError(403, "permission_error", code, message);
export const notFound = (code: string, message: string) => new ApiError(404, "not_found_error", code, message);
