import { beforeAll, describe, expect, it } from "vitest";
import { call, createKey, ensureTeam, json, MASTER, shiftClock, type NewKey } from "../helpers/gateway";
import { unknownSecret } from "../helpers/key-routes";
import { callWith } from "../helpers/with-env";

/**
 * One corpus of hostile or broken requests against every public surface. Each one must be refused with the
 * exact 4xx it declares, in OpenAI's error envelope, quickly, and without moving a single counter or creating
 * anything: a refused request is free and harmless.
 */

const MAX_BODY_BYTES = 4 * 1024 * 1024;
const DEADLINE_MS = 5_000;
const JSON_TYPE = { "content-type": "application/json" } as const;

interface Ctx {
  /** The key hostile proxy requests authenticate with; it has a model allow-list. */
  ref: NewKey;
  /** A second, untouched key, for "someone else's key" cases. */
  other: NewKey;
  team: string;
}

interface Credential {
  token: string | null;
  /** A key (secret or token) whose counters must not move either. */
  watch?: string;
}

interface Case {
  name: string;
  method?: string;
  path: string | ((ctx: Ctx) => string);
  /** Default: the reference key on the proxy, the master key on management routes. */
  auth?: "master" | "ref" | "none" | ((ctx: Ctx) => Credential | Promise<Credential>);
  headers?: Record<string, string> | ((ctx: Ctx) => Record<string, string>);
  /** Serialised with JSON.stringify and sent as application/json. */
  json?: object | string | number | boolean | null | ((ctx: Ctx) => unknown);
  /** Sent exactly as given, with only the headers of the case (plus JSON_TYPE when `rawJson`). */
  raw?: BodyInit | ((ctx: Ctx) => BodyInit);
  rawJson?: string | ((ctx: Ctx) => string);
  vars?: Record<string, string>;
  status: 400 | 401 | 403 | 404 | 405 | 413 | 415 | 431;
  code: string;
  param?: string | null;
}

const TYPE_OF: Record<Case["status"], string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  405: "invalid_request_error",
  413: "invalid_request_error",
  415: "invalid_request_error",
  431: "invalid_request_error",
};

const CHAT = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }], max_tokens: 5 };
const withChat = (fields: Record<string, unknown>) => ({ ...CHAT, ...fields });
const chatRaw = (fragment: string) => `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],${fragment}}`;
const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
const DEEP = nested(100_000);
const INVALID_UTF8 = new Uint8Array([0x7b, 0x22, 0x6d, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0xff, 0xfe, 0x22, 0x7d]); // {"m":"\xc3(\xff\xfe"}
const hugeChat = () => JSON.stringify(withChat({ messages: [{ role: "user", content: "x".repeat(MAX_BODY_BYTES) }] }));
const hugeManagement = () => JSON.stringify({ metadata: { blob: "x".repeat(MAX_BODY_BYTES) } });

/** A body that arrives in chunks with no content-length, so only the streaming limit can stop it. */
function streamedBody(bytes: number): ReadableStream<Uint8Array> {
  const chunk = new TextEncoder().encode(`${"x".repeat(1023)} `);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= bytes) return controller.close();
      sent += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
}

const manyHeaders = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, index) => [`x-filler-${index}`, "v"]));
const bulkyHeaders = () => Object.fromEntries(Array.from({ length: 6 }, (_, index) => [`x-bulk-${index}`, "b".repeat(7_000)]));

async function blockedKey(): Promise<Credential> {
  const key = await createKey({ blocked: true });
  return { token: key.key, watch: key.token };
}
async function expiredKey(): Promise<Credential> {
  const key = await createKey({ duration: "30s" });
  await shiftClock(key.token, 60_000);
  return { token: key.key, watch: key.token };
}
async function deletedKey(): Promise<Credential> {
  const key = await createKey();
  expect((await call("/key/delete", { body: { keys: [key.key] } })).status).toBe(200);
  return { token: key.key };
}
async function regeneratedOldSecret(): Promise<Credential> {
  const key = await createKey();
  const response = await call("/key/regenerate", { body: { key: key.key } });
  expect(response.status).toBe(200);
  const renewed = await json<NewKey>(response);
  return { token: key.key, watch: renewed.token };
}

const PROXY: Case[] = [
  // Broken JSON.
  { name: "truncated JSON", path: "/v1/chat/completions", rawJson: '{"model":"gpt-4o-mini","messages":[{"role":"us', status: 400, code: "invalid_json" },
  { name: "JSON with unquoted keys", path: "/v1/chat/completions", rawJson: "{model: gpt-4o-mini}", status: 400, code: "invalid_json" },
  { name: "JSON with a trailing comma", path: "/v1/embeddings", rawJson: '{"model":"text-embedding-3-small","input":"a",}', status: 400, code: "invalid_json" },
  { name: "an empty body", path: "/v1/chat/completions", rawJson: "", status: 400, code: "invalid_json" },
  { name: "whitespace only", path: "/v1/responses", rawJson: " \n\t ", status: 400, code: "invalid_json" },
  { name: "invalid UTF-8 bytes", path: "/v1/chat/completions", raw: INVALID_UTF8, headers: JSON_TYPE, status: 400, code: "invalid_json" },
  // JSON that is not an object.
  { name: "a JSON array", path: "/v1/chat/completions", json: [CHAT], status: 400, code: "invalid_request" },
  { name: "a JSON string", path: "/v1/completions", json: "gpt-4o-mini", status: 400, code: "invalid_request" },
  { name: "JSON null", path: "/v1/embeddings", rawJson: "null", status: 400, code: "invalid_request" },
  { name: "a JSON number", path: "/v1/responses", rawJson: "42", status: 400, code: "invalid_request" },
  { name: "100k nested arrays as the body", path: "/v1/chat/completions", rawJson: DEEP, status: 400, code: "invalid_request" },
  { name: "100k nested arrays as messages", path: "/chat/completions", rawJson: `{"model":"gpt-4o-mini","messages":${DEEP}}`, status: 400, code: "invalid_request", param: "messages" },
  { name: "100k nested arrays as embeddings input", path: "/v1/embeddings", rawJson: `{"model":"text-embedding-3-small","input":${DEEP}}`, status: 400, code: "invalid_request", param: "input" },
  // Missing fields and wrong types.
  { name: "no messages", path: "/v1/chat/completions", json: { model: "gpt-4o-mini" }, status: 400, code: "invalid_request", param: "messages" },
  { name: "no model", path: "/v1/chat/completions", json: { messages: CHAT.messages }, status: 400, code: "invalid_request", param: "model" },
  { name: "a numeric model", path: "/v1/chat/completions", json: withChat({ model: 4 }), status: 400, code: "invalid_request", param: "model" },
  { name: "an empty messages array", path: "/chat/completions", json: withChat({ messages: [] }), status: 400, code: "invalid_request", param: "messages" },
  { name: "messages as a string", path: "/v1/chat/completions", json: withChat({ messages: "hello" }), status: 400, code: "invalid_request", param: "messages" },
  { name: "a message without role", path: "/v1/chat/completions", json: withChat({ messages: [{ content: "hi" }] }), status: 400, code: "invalid_request", param: "messages.0.role" },
  { name: "stream as a string", path: "/v1/chat/completions", json: withChat({ stream: "yes" }), status: 400, code: "invalid_request", param: "stream" },
  { name: "n = 0", path: "/v1/chat/completions", json: withChat({ n: 0 }), status: 400, code: "invalid_request", param: "n" },
  { name: "a negative max_tokens", path: "/v1/chat/completions", json: withChat({ max_tokens: -1 }), status: 400, code: "invalid_request", param: "max_tokens" },
  { name: "a fractional max_tokens", path: "/v1/chat/completions", json: withChat({ max_tokens: 1.5 }), status: 400, code: "invalid_request", param: "max_tokens" },
  { name: 'max_tokens "NaN"', path: "/v1/chat/completions", json: withChat({ max_tokens: "NaN" }), status: 400, code: "invalid_request", param: "max_tokens" },
  { name: "max_tokens 1e309 (Infinity)", path: "/v1/chat/completions", rawJson: chatRaw('"max_tokens":1e309'), status: 400, code: "invalid_request", param: "max_tokens" },
  { name: "max_completion_tokens 1e20", path: "/v1/chat/completions", json: withChat({ max_completion_tokens: 1e20 }), status: 400, code: "invalid_request", param: "max_completion_tokens" },
  { name: "an object as embeddings input", path: "/v1/embeddings", json: { model: "text-embedding-3-small", input: { text: "a" } }, status: 400, code: "invalid_request", param: "input" },
  { name: "an empty embeddings input array", path: "/embeddings", json: { model: "text-embedding-3-small", input: [] }, status: 400, code: "invalid_request", param: "input" },
  { name: "completions without prompt", path: "/v1/completions", json: { model: "gpt-4o-mini" }, status: 400, code: "invalid_request", param: "prompt" },
  { name: "a negative completions max_tokens", path: "/v1/completions", json: { model: "gpt-4o-mini", prompt: "a", max_tokens: -3 }, status: 400, code: "invalid_request", param: "max_tokens" },
  { name: "a numeric responses input", path: "/v1/responses", json: { model: "gpt-4o-mini", input: 7 }, status: 400, code: "invalid_request", param: "input" },
  { name: "responses max_output_tokens 1e309", path: "/responses", rawJson: '{"model":"gpt-4o-mini","input":"a","max_output_tokens":1e309}', status: 400, code: "invalid_request", param: "max_output_tokens" },
  // Size and content type.
  { name: "a body over MAX_BODY_BYTES", path: "/v1/chat/completions", rawJson: hugeChat, status: 413, code: "request_too_large" },
  { name: "a streamed body without content-length over MAX_BODY_BYTES", path: "/v1/embeddings", raw: () => streamedBody(8 * 1024), headers: JSON_TYPE, vars: { MAX_BODY_BYTES: "4096" }, status: 413, code: "request_too_large" },
  { name: "text/plain", path: "/v1/chat/completions", raw: JSON.stringify(CHAT), headers: { "content-type": "text/plain" }, status: 415, code: "unsupported_media_type" },
  { name: "form-urlencoded", path: "/v1/completions", raw: "model=gpt-4o-mini&prompt=a", headers: { "content-type": "application/x-www-form-urlencoded" }, status: 415, code: "unsupported_media_type" },
  { name: "no content type", path: "/v1/chat/completions", raw: () => new TextEncoder().encode(JSON.stringify(CHAT)), status: 415, code: "unsupported_media_type" },
  // Models the key may not use.
  { name: "a model outside the allow-list", path: "/v1/chat/completions", json: withChat({ model: "gpt-4o" }), status: 403, code: "model_not_allowed" },
  { name: "an embeddings model outside the allow-list", path: "/v1/embeddings", json: { model: "text-embedding-3-large", input: "a" }, status: 403, code: "model_not_allowed" },
  { name: "a responses model outside the allow-list", path: "/v1/responses", json: { model: "o1", input: "a" }, status: 403, code: "model_not_allowed" },
  // Credentials.
  { name: "no Authorization", path: "/v1/chat/completions", auth: "none", json: CHAT, status: 401, code: "invalid_api_key" },
  { name: "no Authorization (unprefixed route)", path: "/chat/completions", auth: "none", json: CHAT, status: 401, code: "invalid_api_key" },
  { name: 'Authorization "Basic x"', path: "/v1/chat/completions", auth: "none", headers: { authorization: "Basic eDp5" }, json: CHAT, status: 401, code: "invalid_api_key" },
  { name: 'Authorization "Bearer"', path: "/v1/embeddings", auth: "none", headers: { authorization: "Bearer" }, json: { model: "text-embedding-3-small", input: "a" }, status: 401, code: "invalid_api_key" },
  { name: 'Authorization "Bearer a b"', path: "/v1/chat/completions", auth: "none", headers: { authorization: "Bearer a b" }, json: CHAT, status: 401, code: "invalid_api_key" },
  { name: "Authorization plus a different x-api-key", path: "/v1/chat/completions", headers: (ctx) => ({ "x-api-key": ctx.other.key }), json: CHAT, status: 400, code: "ambiguous_credentials" },
  { name: "a never-issued key", path: "/v1/chat/completions", auth: () => ({ token: unknownSecret() }), json: CHAT, status: 401, code: "invalid_api_key" },
  { name: "the master key (not a virtual key)", path: "/v1/chat/completions", auth: "master", json: CHAT, status: 401, code: "invalid_api_key" },
  { name: "a key's token used as its secret", path: "/v1/completions", auth: (ctx) => ({ token: ctx.ref.token }), json: { model: "gpt-4o-mini", prompt: "a" }, status: 401, code: "invalid_api_key" },
  { name: "an expired key", path: "/v1/chat/completions", auth: expiredKey, json: CHAT, status: 401, code: "key_expired" },
  { name: "a blocked key", path: "/v1/responses", auth: blockedKey, json: { model: "gpt-4o-mini", input: "a" }, status: 403, code: "key_blocked" },
  { name: "a deleted key", path: "/v1/chat/completions", auth: deletedKey, json: CHAT, status: 401, code: "invalid_api_key" },
  { name: "the old secret of a regenerated key", path: "/v1/embeddings", auth: regeneratedOldSecret, json: { model: "text-embedding-3-small", input: "a" }, status: 401, code: "invalid_api_key" },
  // Paths and methods.
  { name: "a trailing slash", path: "/v1/chat/completions/", json: CHAT, status: 404, code: "route_not_found" },
  { name: "an encoded NUL", path: "/v1/%00", json: CHAT, status: 404, code: "route_not_found" },
  { name: "a very long path", path: `/v1/${"a".repeat(8_000)}`, json: CHAT, status: 404, code: "route_not_found" },
  { name: "PUT on a known route", method: "PUT", path: "/v1/chat/completions", json: CHAT, status: 405, code: "method_not_allowed" },
  { name: "DELETE on a known route", method: "DELETE", path: "/v1/embeddings", status: 405, code: "method_not_allowed" },
  { name: "PATCH on a known route", method: "PATCH", path: "/responses", json: {}, status: 405, code: "method_not_allowed" },
  { name: "GET on a POST-only route", method: "GET", path: "/v1/completions", status: 405, code: "method_not_allowed" },
  { name: "PUT on an unknown route", method: "PUT", path: "/v1/chat/completion", json: CHAT, status: 404, code: "route_not_found" },
  // Headers.
  { name: "a header value over 8 KB", path: "/v1/chat/completions", headers: { "x-big": "a".repeat(9_000) }, json: CHAT, status: 431, code: "request_header_fields_too_large" },
  { name: "over 100 headers", path: "/v1/chat/completions", headers: manyHeaders(110), json: CHAT, status: 431, code: "request_header_fields_too_large" },
  { name: "headers over 32 KB in all", path: "/v1/embeddings", headers: bulkyHeaders(), json: { model: "text-embedding-3-small", input: "a" }, status: 431, code: "request_header_fields_too_large" },
];

const gen = (body: object | string): Pick<Case, "path" | "json"> => ({ path: "/key/generate", json: body });
const MANAGEMENT: Case[] = [
  // /key/generate: broken bodies.
  { name: "truncated JSON", path: "/key/generate", rawJson: '{"key_alias":"a', status: 400, code: "invalid_json" },
  { name: "a JSON array", ...gen([{ key_alias: "a" }]), status: 400, code: "invalid_request" },
  { name: "JSON null", path: "/key/generate", rawJson: "null", status: 400, code: "invalid_request" },
  { name: "a JSON string", ...gen("key"), status: 400, code: "invalid_request" },
  { name: "invalid UTF-8 bytes", path: "/key/generate", raw: INVALID_UTF8, headers: JSON_TYPE, status: 400, code: "invalid_json" },
  { name: "an unknown field", ...gen({ key_alias: "a", is_admin: true }), status: 400, code: "invalid_request" },
  { name: "a __proto__ field", path: "/key/generate", rawJson: '{"__proto__":{"blocked":true}}', status: 400, code: "invalid_request" },
  { name: "100k nested arrays in metadata", path: "/key/generate", rawJson: `{"metadata":{"deep":${DEEP}}}`, status: 400, code: "invalid_request" },
  { name: "a body over MAX_BODY_BYTES", path: "/key/generate", rawJson: hugeManagement, status: 413, code: "request_too_large" },
  { name: "a body over a lowered MAX_BODY_BYTES", path: "/key/generate", json: { key_alias: "a".repeat(200), metadata: { pad: "p".repeat(2_000) } }, vars: { MAX_BODY_BYTES: "1024" }, status: 413, code: "request_too_large" },
  { name: "text/plain", path: "/key/generate", raw: "{}", headers: { "content-type": "text/plain" }, status: 415, code: "unsupported_media_type" },
  { name: "no content type", path: "/key/generate", raw: () => new TextEncoder().encode("{}"), status: 415, code: "unsupported_media_type" },
  // /key/generate: limits and durations.
  { name: "tpm_limit 1e20", ...gen({ tpm_limit: 1e20 }), status: 400, code: "invalid_request", param: "tpm_limit" },
  { name: "tpm_limit 1e309 (Infinity)", path: "/key/generate", rawJson: '{"tpm_limit":1e309}', status: 400, code: "invalid_request", param: "tpm_limit" },
  { name: "max_budget 1e12", ...gen({ max_budget: 1e12 }), status: 400, code: "invalid_request", param: "max_budget" },
  { name: "max_budget 1e309 (Infinity)", path: "/key/generate", rawJson: '{"max_budget":1e309}', status: 400, code: "invalid_request", param: "max_budget" },
  { name: 'max_budget "NaN"', ...gen({ max_budget: "NaN" }), status: 400, code: "invalid_request", param: "max_budget" },
  { name: "a negative max_budget", ...gen({ max_budget: -0.01 }), status: 400, code: "invalid_request", param: "max_budget" },
  { name: "a negative rpm_limit", ...gen({ rpm_limit: -1 }), status: 400, code: "invalid_request", param: "rpm_limit" },
  { name: "a fractional max_parallel_requests", ...gen({ max_parallel_requests: 1.5 }), status: 400, code: "invalid_request", param: "max_parallel_requests" },
  { name: "an absurd model_max_budget", ...gen({ model_max_budget: { "gpt-4o": { budget_limit: 1e12 } } }), status: 400, code: "invalid_request", param: "model_max_budget.gpt-4o.budget_limit" },
  { name: 'budget_duration "3x"', ...gen({ budget_duration: "3x" }), status: 400, code: "invalid_request", param: "budget_duration" },
  { name: 'budget_duration "1.5h"', ...gen({ budget_duration: "1.5h" }), status: 400, code: "invalid_request", param: "budget_duration" },
  { name: 'duration ""', ...gen({ duration: "" }), status: 400, code: "invalid_request", param: "duration" },
  { name: 'duration "-1d"', ...gen({ duration: "-1d" }), status: 400, code: "invalid_request", param: "duration" },
  { name: 'duration "10y"', ...gen({ duration: "10y" }), status: 400, code: "invalid_request", param: "duration" },
  { name: "models as a string", ...gen({ models: "gpt-4o" }), status: 400, code: "invalid_request", param: "models" },
  { name: "a team that does not exist", ...gen({ team_id: "no-such-team-anywhere" }), status: 400, code: "team_not_found", param: "team_id" },
  // /key/generate: credentials.
  { name: "a virtual key", ...gen({}), auth: "ref", status: 403, code: "admin_only" },
  { name: "a wrong master key", ...gen({}), auth: () => ({ token: `${MASTER}-wrong` }), status: 401, code: "invalid_api_key" },
  { name: "no Authorization", ...gen({}), auth: "none", status: 401, code: "invalid_api_key" },
  { name: "master key plus a different x-api-key", ...gen({}), headers: { "x-api-key": "sk-someone-else" }, status: 400, code: "ambiguous_credentials" },
  // /key/update.
  { name: "a negative rpm_limit on the reference key", path: "/key/update", json: (ctx) => ({ key: ctx.ref.key, rpm_limit: -5 }), status: 400, code: "invalid_request", param: "rpm_limit" },
  { name: "an unknown field on the reference key", path: "/key/update", json: (ctx) => ({ key: ctx.ref.key, spend: 0 }), status: 400, code: "invalid_request" },
  { name: 'budget_duration "10y" on the reference key', path: "/key/update", json: (ctx) => ({ key: ctx.ref.key, budget_duration: "10y" }), status: 400, code: "invalid_request", param: "budget_duration" },
  { name: "100k nested arrays in metadata of the reference key", path: "/key/update", rawJson: (ctx) => `{"key":"${ctx.ref.key}","metadata":{"deep":${DEEP}}}`, status: 400, code: "invalid_request" },
  { name: "no key", path: "/key/update", json: { rpm_limit: 5 }, status: 400, code: "invalid_request", param: "key" },
  { name: "the reference key raising its own limits", path: "/key/update", auth: "ref", json: (ctx) => ({ key: ctx.ref.key, rpm_limit: 1e6 }), status: 403, code: "admin_only" },
  // /key/delete.
  { name: "keys as a string", path: "/key/delete", json: (ctx) => ({ keys: ctx.ref.key }), status: 400, code: "invalid_request", param: "keys" },
  { name: "the reference key next to a malformed reference", path: "/key/delete", json: (ctx) => ({ keys: [ctx.ref.key, "not-a-key"] }), status: 400, code: "invalid_key_reference" },
  { name: "the reference key deleting itself", path: "/key/delete", auth: "ref", json: (ctx) => ({ keys: [ctx.ref.key] }), status: 403, code: "admin_only" },
  // /key/info.
  { name: "a 20k-character ?key=", path: `/key/info?key=${"a".repeat(20_000)}`, status: 400, code: "invalid_request", param: "key" },
  { name: "an unknown query parameter", path: (ctx) => `/key/info?key=${ctx.ref.token}&debug=1`, status: 400, code: "invalid_request" },
  { name: "a virtual key reading another key", path: (ctx) => `/key/info?key=${ctx.other.token}`, auth: "ref", status: 403, code: "not_own_key" },
  { name: "a path with ../ (normalised to /key/info) without ?key=", path: "/key/../key/info", status: 400, code: "missing_key", param: "key" },
  { name: "a doubled leading slash", path: (ctx) => `//key/info?key=${ctx.ref.token}`, status: 404, code: "route_not_found" },
  { name: "DELETE", method: "DELETE", path: (ctx) => `/key/info?key=${ctx.ref.token}`, status: 405, code: "method_not_allowed" },
  // /key/list.
  { name: "size=0", path: "/key/list?size=0", status: 400, code: "invalid_request", param: "size" },
  { name: "size=1e9", path: "/key/list?size=1e9", status: 400, code: "invalid_request", param: "size" },
  { name: "page=-1", path: "/key/list?page=-1", status: 400, code: "invalid_request", param: "page" },
  { name: "return_full_object=yes", path: "/key/list?return_full_object=yes", status: 400, code: "invalid_request", param: "return_full_object" },
  { name: "a virtual key", path: "/key/list", auth: "ref", status: 403, code: "admin_only" },
  { name: "PUT", method: "PUT", path: "/key/list", json: {}, status: 405, code: "method_not_allowed" },
  { name: "over 100 headers", path: "/key/list", headers: manyHeaders(110), status: 431, code: "request_header_fields_too_large" },
  // /key/block.
  { name: "an unknown field next to the reference key", path: "/key/block", json: (ctx) => ({ key: ctx.ref.key, reason: "x" }), status: 400, code: "invalid_request" },
  { name: "a numeric key", path: "/key/block", json: { key: 12345 }, status: 400, code: "invalid_request", param: "key" },
  { name: "a virtual key blocking another key", path: "/key/block", auth: "ref", json: (ctx) => ({ key: ctx.other.key }), status: 403, code: "admin_only" },
  { name: "PATCH", method: "PATCH", path: "/key/block", json: {}, status: 405, code: "method_not_allowed" },
  // /key/regenerate.
  { name: "an unknown field next to the reference key", path: "/key/regenerate", json: (ctx) => ({ key: ctx.ref.key, new_key: "sk-chosen-by-attacker-000000000" }), status: 400, code: "invalid_request" },
  { name: "an empty key", path: "/key/regenerate", json: { key: "" }, status: 400, code: "invalid_request", param: "key" },
  { name: "the reference key regenerating itself", path: "/key/regenerate", auth: "ref", json: (ctx) => ({ key: ctx.ref.key }), status: 403, code: "admin_only" },
  // /team/new and /team/update.
  { name: "an unknown field", path: "/team/new", json: { team_alias: "t", owner: "me" }, status: 400, code: "invalid_request" },
  { name: "tpm_limit 1e20", path: "/team/new", json: { tpm_limit: 1e20 }, status: 400, code: "invalid_request", param: "tpm_limit" },
  { name: 'budget_duration "-1d"', path: "/team/new", json: { budget_duration: "-1d" }, status: 400, code: "invalid_request", param: "budget_duration" },
  { name: "an empty team_id", path: "/team/new", json: { team_id: "" }, status: 400, code: "invalid_request", param: "team_id" },
  { name: "100k nested arrays in metadata", path: "/team/new", rawJson: `{"metadata":{"deep":${DEEP}}}`, status: 400, code: "invalid_request" },
  { name: "a JSON array", path: "/team/new", json: [], status: 400, code: "invalid_request" },
  { name: "a virtual key", path: "/team/new", auth: "ref", json: {}, status: 403, code: "admin_only" },
  { name: "max_budget 1e12 on the reference team", path: "/team/update", json: (ctx) => ({ team_id: ctx.team, max_budget: 1e12 }), status: 400, code: "invalid_request", param: "max_budget" },
  { name: "a fractional rpm_limit on the reference team", path: "/team/update", json: (ctx) => ({ team_id: ctx.team, rpm_limit: 0.5 }), status: 400, code: "invalid_request", param: "rpm_limit" },
  { name: "no team_id", path: "/team/update", json: { rpm_limit: 5 }, status: 400, code: "invalid_request", param: "team_id" },
  { name: "a team that does not exist", path: "/team/update", json: { team_id: "no-such-team-anywhere", rpm_limit: 5 }, status: 404, code: "team_not_found" },
  { name: "PUT", method: "PUT", path: "/team/update", json: {}, status: 405, code: "method_not_allowed" },
  // /spend/logs.
  { name: "limit=0", path: (ctx) => `/spend/logs?api_key=${ctx.ref.token}&limit=0`, status: 400, code: "invalid_request", param: "limit" },
  { name: "limit=abc", path: (ctx) => `/spend/logs?api_key=${ctx.ref.token}&limit=abc`, status: 400, code: "invalid_request", param: "limit" },
  { name: "the master key without api_key", path: "/spend/logs", status: 400, code: "missing_key", param: "api_key" },
  { name: "a virtual key reading another key's log", path: (ctx) => `/spend/logs?api_key=${ctx.other.token}`, auth: "ref", status: 403, code: "not_own_key" },
  { name: "a blocked key reading its own log", path: "/spend/logs", auth: blockedKey, status: 403, code: "key_blocked" },
  { name: 'Authorization "Bearer a b"', path: "/spend/logs", auth: "none", headers: { authorization: "Bearer a b" }, status: 401, code: "invalid_api_key" },
  { name: "POST", method: "POST", path: "/spend/logs", json: {}, status: 405, code: "method_not_allowed" },
  { name: "an unknown management route", path: "/key/admin", json: {}, status: 404, code: "route_not_found" },
];

const isManagement = (path: string) => /^\/+(key|team|spend)\b/.test(path);

interface Snapshot {
  ref: Record<string, unknown>;
  watched: Record<string, unknown> | null;
  team: Record<string, unknown>;
  keyCount: number;
  teamCount: number;
}

/** The counters and settings a hostile request could have moved. Read by secret so a regeneration shows. */
async function countersOf(ref: string): Promise<Record<string, unknown>> {
  const response = await call(`/key/info?key=${encodeURIComponent(ref)}`);
  expect(response.status, `reference key ${ref.slice(0, 12)} must still exist`).toBe(200);
  const { info } = await json<{ info: Record<string, any> }>(response);
  return {
    requests: info.usage.requests,
    tokens: info.usage.tokens,
    in_flight: info.usage.in_flight,
    reserved_tokens: info.usage.reserved_tokens,
    reserved_spend: info.usage.reserved_spend,
    spend: info.spend,
    blocked: info.blocked,
    updated_at: info.updated_at,
    key_name: info.key_name,
    metadata: info.metadata,
  };
}

async function snapshot(ctx: Ctx, watch: string | undefined): Promise<Snapshot> {
  const [ref, watched, team, keys, teams] = await Promise.all([
    countersOf(ctx.ref.key),
    watch === undefined ? Promise.resolve(null) : countersOf(watch),
    call(`/team/info?team_id=${ctx.team}`).then((response) => json(response)),
    call("/key/list?size=1").then((response) => json(response)),
    call("/team/list").then((response) => json<unknown[]>(response)),
  ]);
  const info = team.team_info as Record<string, any>;
  return {
    ref,
    watched,
    team: { updated_at: info.updated_at, spend: info.spend, requests: info.usage.requests, max_budget: info.max_budget, rpm_limit: info.rpm_limit },
    keyCount: keys.total_count as number,
    teamCount: teams.length,
  };
}

async function send(ctx: Ctx, entry: Case, credential: Credential): Promise<Response> {
  const path = typeof entry.path === "function" ? entry.path(ctx) : entry.path;
  const headers: Record<string, string> = {};
  if (credential.token !== null) headers.authorization = `Bearer ${credential.token}`;
  let body: BodyInit | undefined;
  if (entry.json !== undefined) {
    body = JSON.stringify(typeof entry.json === "function" ? (entry.json as (ctx: Ctx) => unknown)(ctx) : entry.json);
    Object.assign(headers, JSON_TYPE);
  } else if (entry.rawJson !== undefined) {
    body = typeof entry.rawJson === "function" ? entry.rawJson(ctx) : entry.rawJson;
    Object.assign(headers, JSON_TYPE);
  } else if (entry.raw !== undefined) {
    body = typeof entry.raw === "function" ? entry.raw(ctx) : entry.raw;
  }
  Object.assign(headers, typeof entry.headers === "function" ? entry.headers(ctx) : entry.headers);
  const method = entry.method ?? (body === undefined ? "GET" : "POST");
  return callWith(entry.vars ?? {}, path, { method, headers, ...(body === undefined ? {} : { body }) });
}

async function credentialFor(ctx: Ctx, entry: Case, path: string): Promise<Credential> {
  const auth = entry.auth ?? (isManagement(path) ? "master" : "ref");
  if (auth === "master") return { token: MASTER };
  if (auth === "ref") return { token: ctx.ref.key };
  if (auth === "none") return { token: null };
  return auth(ctx);
}

/** Fails instead of hanging: every refusal must come back within DEADLINE_MS. */
async function withinDeadline<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${DEADLINE_MS} ms`)), DEADLINE_MS);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

const hasBody = (entry: Case) => entry.json !== undefined || entry.raw !== undefined || entry.rawJson !== undefined;
const describeCase = (entry: Case) => {
  const method = entry.method ?? (hasBody(entry) ? "POST" : "GET");
  const path = typeof entry.path === "string" ? entry.path.split("?")[0]!.slice(0, 40) : entry.path(PLACEHOLDER).split("?")[0]!;
  return `${method} ${path} with ${entry.name} → ${entry.status} ${entry.code}`;
};
const PLACEHOLDER: Ctx = { ref: { key: "sk-ref", token: "ref" }, other: { key: "sk-other", token: "other" }, team: "team" };

const CASES = [...PROXY.map((entry) => ["proxy", entry] as const), ...MANAGEMENT.map((entry) => ["management", entry] as const)];

describe("hostile and broken requests", () => {
  let ctx: Ctx;

  beforeAll(async () => {
    const team = `hostile-${crypto.randomUUID()}`;
    await ensureTeam(team, { rpm_limit: 50 });
    const [ref, other] = await Promise.all([
      createKey({ models: ["gpt-4o-mini", "text-embedding-3-small"], rpm_limit: 100, metadata: { purpose: "reference" } }),
      createKey(),
    ]);
    ctx = { ref, other, team };
  });

  it("covers at least 60 requests across the proxy and the management API", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    const paths = CASES.map(([, entry]) => (typeof entry.path === "string" ? entry.path : entry.path(PLACEHOLDER)));
    for (const route of ["/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/responses", "/chat/completions", "/key/generate", "/key/update", "/key/delete", "/key/info", "/key/list", "/key/block", "/key/regenerate", "/team/new", "/team/update", "/spend/logs"]) {
      expect(paths.some((path) => path.split("?")[0] === route), route).toBe(true);
    }
  });

  it.each(CASES.map(([surface, entry]) => [`${surface}: ${describeCase(entry)}`, entry] as const))("%s, OpenAI-shaped, quickly, moving no counter", async (_title, entry) => {
    const path = typeof entry.path === "function" ? entry.path(ctx) : entry.path;
    const credential = await credentialFor(ctx, entry, path);
    const before = await snapshot(ctx, credential.watch);

    const started = Date.now();
    const response = await withinDeadline(send(ctx, entry, credential), entry.name);
    const text = await withinDeadline(response.text(), `${entry.name} (body)`);
    expect(Date.now() - started).toBeLessThan(DEADLINE_MS);

    expect(response.status, text.slice(0, 500)).not.toBeGreaterThanOrEqual(500);
    expect(response.status, text.slice(0, 500)).toBe(entry.status);
    expect(response.headers.get("content-type") ?? "").toContain("application/json");
    const body = JSON.parse(text) as { error: Record<string, unknown> };
    expect(Object.keys(body)).toEqual(["error"]);
    expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
    expect(typeof body.error.message).toBe("string");
    expect((body.error.message as string).length).toBeGreaterThan(0);
    expect(body.error.code).toBe(entry.code);
    expect(body.error.type).toBe(TYPE_OF[entry.status]);
    if (entry.param !== undefined) expect(body.error.param).toBe(entry.param);
    else expect(body.error.param === null || typeof body.error.param === "string").toBe(true);

    const after = await snapshot(ctx, credential.watch);
    expect(after.ref, "reference key counters and settings").toEqual(before.ref);
    expect(after.watched, "the credential's own key").toEqual(before.watched);
    expect(after.team, "reference team").toEqual(before.team);
    expect(after.keyCount, "/key/list total_count").toBe(before.keyCount);
    expect(after.teamCount, "/team/list length").toBe(before.teamCount);
  });

  it("leaves the reference key untouched and usable after the whole corpus", async () => {
    const counters = await countersOf(ctx.ref.key);
    expect(counters).toMatchObject({ requests: 0, tokens: 0, in_flight: 0, reserved_tokens: 0, reserved_spend: 0, spend: 0, blocked: false });
    const response = await call("/v1/chat/completions", { token: ctx.ref.key, body: CHAT });
    expect(response.status).toBe(200);
  });
});
