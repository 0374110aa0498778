import type { Context } from "hono";
import { secretsEqual, sha256Hex, TOKEN_PATTERN } from "../../crypto/secret";
import type { AppEnv } from "../../http/app-env";
import { credential } from "../../http/credentials";
import { ApiError, badRequest, keyNotFound } from "../../http/errors";
import { refusalError } from "../../http/limit-error";
import { isMaster } from "../../http/master-auth";
import { keyObject, teamObject } from "../../stubs";
import type { KeyView } from "../../objects/protocol";

/** LiteLLM lets callers name a key by its secret or by its stored SHA-256 (`token`); both resolve to the token. */
export async function tokenOf(ref: string): Promise<string> {
  if (TOKEN_PATTERN.test(ref)) return ref;
  if (ref.startsWith("sk-")) return sha256Hex(ref);
  throw badRequest("invalid_key_reference", "`key` must be a virtual key (sk-...) or its 64-hex-digit token.", "key");
}

export async function viewOrNotFound(c: Context<AppEnv>, token: string): Promise<KeyView> {
  const view = await keyObject(c.env, token).view();
  if (!view) throw keyNotFound();
  return view;
}

/**
 * The key a read-only route (/key/info, /spend/logs) is about. The master key names any key with `ref`
 * (required); a virtual key reads only itself, must be allowed to call at all (not blocked or expired, judged by
 * its own object, as on the proxy path), and may name itself in `ref`.
 */
export async function readableKey(c: Context<AppEnv>, ref: string | undefined, param: string): Promise<string> {
  const given = credential(c);
  if (await isMaster(c, given)) {
    if (ref === undefined) throw badRequest("missing_key", `Pass ?${param}=<sk-... or token> to read a key with the master key.`, param);
    return tokenOf(ref);
  }
  const own = await sha256Hex(given);
  const auth = await keyObject(c.env, own).authenticate();
  if (!auth.ok) throw refusalError(auth.refusal);
  if (ref !== undefined && !(await secretsEqual(await tokenOf(ref), own))) {
    throw new ApiError("not_own_key", "A virtual key may only read about itself.");
  }
  return own;
}

/** A key may only join a team that exists: otherwise its team limits would silently not apply. */
export async function requireTeam(c: Context<AppEnv>, teamId: string | null | undefined): Promise<void> {
  if (teamId === null || teamId === undefined) return;
  if (!(await teamObject(c.env, teamId).exists())) throw new ApiError("team_not_found", `No team '${teamId}': create it with /team/new first.`, { param: "team_id", status: 400, type: "invalid_request_error" });
}
