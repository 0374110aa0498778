import { Hono, type Context } from "hono";
import { sha256Hex } from "../crypto/secret";
import type { AppEnv } from "../http/app-env";
import { credential } from "../http/credentials";
import { ApiError, routeNotFound } from "../http/errors";
import { refusalError } from "../http/limit-error";
import { isMaster } from "../http/master-auth";
import { keyObject } from "../stubs";

/**
 * The dashboard at /ui: the static files of ui/ (Workers static assets, the ASSETS binding), served by this
 * Worker so that MANAGEMENT_API and MANAGEMENT_HOSTNAMES hide them exactly as they hide the management API
 * (wrangler.toml sets run_worker_first = true: no file is ever served around the Worker). The files hold no
 * data; every number on the page comes from the management API, with the key the user signed in with.
 *
 * Caching: HTML is `no-cache` (revalidated with its ETag on every load). A script or stylesheet asked for with
 * `?v=<first 12 hex digits of the SHA-256 of its content>` (how index.html names them) is immutable for a year;
 * asked for without that exact version, it is `no-cache` too, so no stale file is ever pinned.
 */

/** What wrangler binds for `[assets] binding = "ASSETS"`; absent where a config has no assets (the benchmark's). */
interface Assets {
  fetch(request: Request): Promise<Response>;
}

const assetsOf = (env: unknown): Assets | null => {
  const binding = (env as { ASSETS?: unknown }).ASSETS;
  return typeof binding === "object" && binding !== null && typeof (binding as Assets).fetch === "function" ? (binding as Assets) : null;
};

export const VERSION_DIGITS = 12;
const IMMUTABLE = "public, max-age=31536000, immutable";
const REVALIDATE = "no-cache";

/** Locked down: the page runs only its own files and talks only to its own origin; nothing may frame it. */
const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

export async function contentVersion(body: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  return [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("").slice(0, VERSION_DIGITS);
}

function notFound(c: Context<AppEnv>): never {
  throw new ApiError("route_not_found", routeNotFound(c.req.method, new URL(c.req.url).pathname).message, { headers: { "cache-control": "no-store" } });
}

/** Serves one file of ui/ (`file` is its path there, "/index.html"), with the dashboard's cache and security headers. */
async function serve(c: Context<AppEnv>, file: string): Promise<Response> {
  const assets = assetsOf(c.env);
  if (!assets) notFound(c);
  const url = new URL(c.req.url);
  const version = url.searchParams.get("v");
  const headers = new Headers();
  // Conditional requests revalidate `no-cache` files (304); a versioned file is read whole to check its version.
  for (const name of ["if-none-match", "if-modified-since"]) {
    const value = c.req.header(name);
    if (value !== undefined && version === null) headers.set(name, value);
  }
  const answer = await assets.fetch(new Request(new URL(file, url.origin), { method: "GET", headers }));
  if (answer.status === 404) notFound(c);
  if (answer.status !== 200 && answer.status !== 304) {
    console.error(`dashboard asset ${file}: ${answer.status}`);
    throw new ApiError("internal_error", "The dashboard's files could not be read.");
  }
  const out = new Headers(SECURITY_HEADERS);
  for (const name of ["content-type", "etag", "last-modified"]) {
    const value = answer.headers.get(name);
    if (value !== null) out.set(name, value);
  }
  if (version === null || answer.status === 304) {
    out.set("cache-control", REVALIDATE);
    return new Response(c.req.method === "HEAD" || answer.status === 304 ? null : answer.body, { status: answer.status, headers: out });
  }
  const body = await answer.arrayBuffer();
  out.set("cache-control", version === (await contentVersion(body)) ? IMMUTABLE : REVALIDATE);
  return new Response(c.req.method === "HEAD" ? null : body, { status: 200, headers: out });
}

/** Who the dashboard is signed in as: the master key, or a virtual key that may call at all (its own page only). */
async function session(c: Context<AppEnv>): Promise<Response> {
  const given = credential(c);
  const noStore = { "cache-control": "no-store" };
  if (await isMaster(c, given)) return c.json({ role: "master" }, 200, noStore);
  const token = await sha256Hex(given);
  const auth = await keyObject(c.env, token).authenticate();
  if (!auth.ok) throw refusalError(auth.refusal);
  return c.json({ role: "key", token, key_alias: auth.record.key_alias, key_name: auth.record.key_name }, 200, noStore);
}

export const uiRoutes = new Hono<AppEnv>()
  .get("/ui", (c) => serve(c, "/index.html"))
  .get("/ui/", (c) => serve(c, "/index.html"))
  .get("/ui/session", session)
  .get("/ui/*", (c) => serve(c, new URL(c.req.url).pathname.slice("/ui".length)));
