import type { Context } from "hono";
import { sha256Hex, TOKEN_PATTERN } from "../../crypto/secret";
import type { AppEnv } from "../../http/app-env";
import { badRequest, notFound } from "../../http/errors";
import { keyObject, teamObject } from "../../objects/stubs";
import type { KeyView } from "../../objects/key-object";

/** LiteLLM lets callers name a key by its secret or by its stored SHA-256 (`token`); both resolve to the token. */
export async function tokenOf(ref: string): Promise<string> {
  if (TOKEN_PATTERN.test(ref)) return ref;
  if (ref.startsWith("sk-")) return sha256Hex(ref);
  throw badRequest("invalid_key_reference", "`key` must be a virtual key (sk-...) or its 64-hex-digit token.", "key");
}

export async function viewOrNotFound(c: Context<AppEnv>, token: string): Promise<KeyView> {
  const view = await keyObject(c.env, token).view();
  if (!view) throw notFound("key_not_found", "No such key.");
  return view;
}

/** A key may only join a team that exists: otherwise its team limits would silently not apply. */
export async function requireTeam(c: Context<AppEnv>, teamId: string | null | undefined): Promise<void> {
  if (teamId === null || teamId === undefined) return;
  if (!(await teamObject(c.env, teamId).exists())) throw badRequest("team_not_found", `No team '${teamId}': create it with /team/new first.`, "team_id");
}
