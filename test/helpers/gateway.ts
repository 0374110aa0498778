import { createExecutionContext, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { app } from "../../src/app";
import { keyStub } from "./objects";
import { MAX_TOKENS, MESSAGES } from "./default-request";

export const MASTER = "sk-test-master";
const BASE = "http://gateway.test";

interface Call {
  method?: string;
  body?: unknown;
  rawBody?: BodyInit;
  token?: string | null;
  headers?: Record<string, string>;
}

/**
 * Calls the Worker's fetch handler in-process with the real bindings, like a client on the edge URL would.
 * (The pool's `exports.default.fetch` loopback slows down quadratically with the number of calls in a file,
 * so the handler is invoked directly; Durable Objects are still reached through their real bindings.)
 */
export async function call(path: string, { method, body, rawBody, token = MASTER, headers = {} }: Call = {}): Promise<Response> {
  const init: RequestInit = { method: method ?? (body !== undefined || rawBody !== undefined ? "POST" : "GET"), headers: { ...headers } };
  const h = init.headers as Record<string, string>;
  if (token !== null) h.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    h["content-type"] ??= "application/json";
  } else if (rawBody !== undefined) {
    init.body = rawBody;
  }
  return app.fetch(new Request(BASE + path, init), env, createExecutionContext());
}

export async function json<T = Record<string, any>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

export interface NewKey {
  key: string;
  token: string;
  [field: string]: unknown;
}

/** Creates a key; a team_id it names is created first if it does not exist yet (keys may only join teams). */
export async function createKey(settings: Record<string, unknown> = {}): Promise<NewKey> {
  if (typeof settings.team_id === "string") await ensureTeam(settings.team_id);
  const response = await call("/key/generate", { body: settings });
  if (response.status !== 200) throw new Error(`key/generate failed: ${response.status} ${await response.text()}`);
  return json<NewKey>(response);
}

export async function keyInfo(key: string): Promise<Record<string, any>> {
  const response = await call(`/key/info?key=${encodeURIComponent(key)}`);
  if (response.status !== 200) throw new Error(`key/info failed: ${response.status} ${await response.text()}`);
  return (await json<{ info: Record<string, any> }>(response)).info;
}

/**
 * The embedded mock stops on its own like a real model: its answer has a natural length drawn from a hash of the
 * prompt (median 300 tokens, long tail), cut by the request's cap. Tests count tokens exactly, so the helpers pin
 * the length to the cap with `x-mock-completion-tokens` (the mock then writes exactly that many tokens and reports
 * finish_reason "length", as it would for any natural answer the cap cuts). A test that sets the header itself
 * wins; a request without a cap keeps the natural length.
 */
export function withExactLength(body: unknown, headers: Record<string, string> = {}): Record<string, string> {
  if (Object.keys(headers).some((name) => name.toLowerCase() === "x-mock-completion-tokens")) return headers;
  if (typeof body !== "object" || body === null) return headers;
  const fields = body as Record<string, unknown>;
  // The cap the mock honours first: chat and completions read max_completion_tokens, then max_tokens; responses max_output_tokens.
  const cap = [fields.max_completion_tokens, fields.max_tokens, fields.max_output_tokens].find((value) => typeof value === "number");
  if (typeof cap !== "number" || !Number.isInteger(cap) || cap < 0) return headers;
  return { "x-mock-completion-tokens": String(cap), ...headers };
}

/** A chat completion as `key`; its answer is exactly max_tokens long (see withExactLength). */
export function chat(key: string, body: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Response> {
  const request = { model: "gpt-4o-mini", messages: MESSAGES, max_tokens: MAX_TOKENS, ...body };
  return call("/v1/chat/completions", { token: key, headers: withExactLength(request, headers), body: request });
}

/** Settlement runs after the response is sent; wait until the key has no call in flight. */
export async function settled(key: string, timeoutMs = 5000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await keyInfo(key);
    // Calls admitted under a front door's lease reach the key when the lease goes back.
    if (info.usage.in_flight === 0 && info.usage.leased.leases === 0) return info;
    if (Date.now() > deadline) throw new Error(`still ${info.usage.in_flight} in flight after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Moves a key object's clock forward so windows and budget periods pass without waiting. */
export async function shiftClock(token: string, ms: number): Promise<void> {
  await runInDurableObject(keyStub(token), (instance) => {
    instance.clockOffsetMs += ms;
  });
}

export async function ensureTeam(teamId: string, settings: Record<string, unknown> = {}): Promise<void> {
  const response = await call("/team/new", { body: { team_id: teamId, ...settings } });
  if (response.status !== 200 && response.status !== 400) throw new Error(`team/new failed: ${response.status} ${await response.text()}`);
}
