/** OpenAI error envelope; gateways parse it, so every failure path uses this shape. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function errorTypeForStatus(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

export function jsonResponse(body: unknown, status = 200, headers?: HeadersInit): Response {
  const merged = new Headers(headers);
  merged.set("content-type", "application/json");
  return new Response(JSON.stringify(body), { status, headers: merged });
}

export function errorResponse(
  status: number,
  message: string,
  code: string | null,
  param: string | null = null,
  headers?: HeadersInit,
): Response {
  const body: OpenAIErrorBody = {
    error: { message, type: errorTypeForStatus(status), param, code },
  };
  return jsonResponse(body, status, headers);
}

export function notFound(method: string, path: string): Response {
  const body: OpenAIErrorBody = {
    error: {
      message: `Unknown request URL: ${method} ${path}.`,
      // OpenAI reports unknown URLs as invalid requests, not server errors.
      type: "invalid_request_error",
      param: null,
      code: "not_found",
    },
  };
  return jsonResponse(body, 404);
}
