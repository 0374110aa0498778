import type { Context } from "hono";
import { badRequest } from "../../http/errors";
import { END_USER_ID } from "../../schemas/end-user-defaults";

/** The header that names the end user whatever the body says (for clients that cannot set `user`). */
export const END_USER_HEADER = "x-edgequota-end-user";

/**
 * The end user a call is made for: the x-edgequota-end-user header, else the id the body carries (OpenAI's
 * `user`, Anthropic's metadata.user_id); null when none is named. An id that is not a short plain string is a
 * 400 before anything is reserved: it names a Durable Object and appears in logs.
 */
export function endUserOf(c: Context, fromBody: unknown): string | null {
  const header = c.req.header(END_USER_HEADER);
  const [value, where] = header !== undefined ? [header.trim(), `the ${END_USER_HEADER} header`] : [fromBody, "the request's end-user id"];
  if (value === undefined || value === null || value === "") return null;
  if (typeof value !== "string" || !END_USER_ID.test(value)) {
    throw badRequest("invalid_end_user", `Invalid end-user id in ${where}: it must be 1-128 letters, digits or . _ @ : + = | / -.`,
      header !== undefined ? END_USER_HEADER : "user");
  }
  return value;
}
