import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { app } from "../../src/app";
import { leaseBook } from "../../src/leases/book";
import { withExactLength } from "../helpers/gateway";
import { MESSAGES } from "../helpers/default-request";

/**
 * The suite runs with LEASES=off; these front doors have it on and ask for a lease after 2 calls a second. One env
 * object, so its configuration is parsed once like a deployed isolate's. The owners' objects keep the suite's own
 * settings (a lease lasts LEASE_MS, 2 s by default).
 */
export const LEASING = { ...env, LEASES: "on", LEASE_MIN_RATE: "2" };
export const NOT_LEASING = { ...env, LEASES: "off", LEASE_MIN_RATE: "2" };

export interface Answer {
  status: number;
  callId: string | null;
  cost: number;
  tokens: number;
}

/** One chat completion through a front door with `vars`; the answer's status, call id, LiteLLM cost and tokens. */
export async function chatVia(vars: typeof LEASING, key: string, body: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Answer> {
  const request = { model: "gpt-4o-mini", messages: MESSAGES, max_tokens: 20, ...body };
  const response = await app.fetch(
    new Request("http://gateway.test/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...withExactLength(request, headers) },
      body: JSON.stringify(request),
    }),
    vars,
    createExecutionContext(),
  );
  const text = await response.text();
  const usage = response.status === 200 ? (JSON.parse(text) as { usage: { total_tokens: number } }).usage : null;
  return {
    status: response.status,
    callId: response.headers.get("x-litellm-call-id"),
    cost: Number(response.headers.get("x-litellm-response-cost") ?? 0),
    tokens: usage?.total_tokens ?? 0,
  };
}

/** `count` calls one after another, `everyMs` apart: steady traffic from one client. */
export async function steadyCalls(count: number, send: () => Promise<Answer>, everyMs = 40): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let index = 0; index < count; index++) {
    answers.push(await send());
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return answers;
}

/** The calls this isolate admitted under leases of the owner, without asking its object. */
export function admittedHere(scope: "key" | "team" | "deployment", name: string, model = "gpt-4o-mini"): number {
  return leaseBook.held(scope, name, model).admittedLocally;
}
