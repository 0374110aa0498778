import type { Context } from "hono";
import { ApiError, badRequest } from "./errors";

/**
 * The bearer credential of a request. OpenAI SDKs send `Authorization: Bearer`, Azure-style clients `api-key`,
 * Anthropic-style ones `x-api-key`; more than one different credential is ambiguous and refused.
 */
export function credential(c: Context): string {
  const found = new Set<string>();
  const authorization = c.req.header("authorization");
  if (authorization !== undefined) {
    const match = /^Bearer[ \t]+([^\s,]+)[ \t]*$/i.exec(authorization);
    if (!match) throw new ApiError("invalid_api_key", "Malformed Authorization header: expected 'Bearer <key>'.");
    found.add(match[1]!);
  }
  for (const header of ["x-api-key", "api-key"]) {
    const value = c.req.header(header)?.trim();
    if (value) found.add(value);
  }
  if (found.size === 0) throw new ApiError("invalid_api_key", "Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'.");
  if (found.size > 1) throw badRequest("ambiguous_credentials", "More than one different API key was sent; send exactly one.");
  const [value] = found;
  return value!;
}
