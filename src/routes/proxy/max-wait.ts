import type { Context } from "hono";
import { badRequest } from "../../http/errors";
import { MAX_WAIT_MS } from "../../schemas/common";

export const MAX_WAIT_HEADER = "x-edgequota-max-wait-ms";

/**
 * How long this call may wait for capacity, from x-edgequota-max-wait-ms: whole milliseconds up to MAX_WAIT_MS;
 * null when the header is absent (each owner's max_wait_ms applies). Anything else is a 400.
 */
export function maxWaitOf(c: Context): number | null {
  const raw = c.req.header(MAX_WAIT_HEADER);
  if (raw === undefined) return null;
  const value = raw.trim();
  if (!/^\d{1,7}$/.test(value) || Number(value) > MAX_WAIT_MS) {
    throw badRequest("invalid_request", `${MAX_WAIT_HEADER} must be a whole number of milliseconds from 0 to ${MAX_WAIT_MS}.`, MAX_WAIT_HEADER);
  }
  return Number(value);
}
