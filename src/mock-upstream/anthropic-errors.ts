import { jsonResponse } from "./errors";

/** Anthropic's error envelope; its clients key on `error.type`, so every Messages failure uses this shape. */
export interface AnthropicErrorBody {
  type: "error";
  error: { type: string; message: string };
}

const TYPES: Readonly<Record<number, string>> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};

export function anthropicErrorType(status: number): string {
  return TYPES[status] ?? "api_error";
}

export function anthropicError(status: number, message: string, headers?: HeadersInit): Response {
  const body: AnthropicErrorBody = { type: "error", error: { type: anthropicErrorType(status), message } };
  return jsonResponse(body, status, headers);
}

/** The x-mock-status fault on an Anthropic route. */
export function anthropicFault(status: number): Response {
  // Real 429s carry a retry hint; gateways are expected to honour it.
  const headers = status === 429 ? { "retry-after": "1" } : undefined;
  return anthropicError(status, `Mock upstream fault injected via x-mock-status: ${status}`, headers);
}

/** Routes answered in Anthropic's dialect (paths as normalizePath returns them). */
export function isAnthropicPath(path: string): boolean {
  return path === "/messages" || path.startsWith("/messages/");
}
