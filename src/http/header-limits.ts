import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./app-env";
import { ApiError } from "./errors";

/** Far above what any SDK sends; a request past them is abuse or a bug, refused before any work. */
const MAX_HEADER_VALUE_BYTES = 8 * 1024;
const MAX_HEADERS_BYTES = 32 * 1024;
const MAX_HEADERS = 100;

export const headerLimits = createMiddleware<AppEnv>(async (c, next) => {
  let total = 0;
  let count = 0;
  for (const [name, value] of c.req.raw.headers) {
    count++;
    total += name.length + value.length;
    if (value.length > MAX_HEADER_VALUE_BYTES || total > MAX_HEADERS_BYTES || count > MAX_HEADERS) {
      throw new ApiError("request_header_fields_too_large",
        `Request headers exceed the limits (${MAX_HEADERS} headers, ${MAX_HEADER_VALUE_BYTES} bytes per value, ${MAX_HEADERS_BYTES} bytes in all).`);
    }
  }
  await next();
});
