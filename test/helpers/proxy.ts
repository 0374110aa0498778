import { vi } from "vitest";
import { mockUpstream } from "../../src/mock-upstream";
import { call, json, withExactLength } from "./gateway";
import { callWith } from "./with-env";

/** A configured upstream, so that `fetch` (spied on in the test isolate) is what the gateway calls. */
export const UPSTREAM = { UPSTREAM_BASE_URL: "http://upstream.test" } as const;

/**
 * List prices in nano-dollars per token, written out here (not read from src/pricing) so a wrong price table
 * fails the tests: gpt-4o-mini 1.5e-7 in / 6e-7 out, text-embedding-3-small 2e-8 in.
 */
export const NANO_PRICES = {
  "gpt-4o-mini": { input: 150, output: 600 },
  "text-embedding-3-small": { input: 20, output: 0 },
} as const;

/** The USD the gateway must charge for this usage at the given nano-dollar prices. */
export function usdFor(price: { input: number; output: number }, prompt: number, completion: number): number {
  return (price.input * prompt + price.output * completion) / 1e9;
}

export const nanos = (usd: number): number => Math.round(usd * 1e9);

export interface SseEvent {
  event: string | null;
  data: string;
}

/** Splits an SSE body into events; throws if a block is not `event:`/`data:` lines, so broken framing fails. */
export function sseEvents(text: string): SseEvent[] {
  return text
    .split("\n\n")
    .filter((block) => block.trim() !== "")
    .map((block) => {
      let event: string | null = null;
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trim());
        else throw new Error(`malformed SSE line ${JSON.stringify(line)} in ${JSON.stringify(block)}`);
      }
      return { event, data: data.join("\n") };
    });
}

/** The JSON payloads of an SSE body, [DONE] excluded. */
export function ssePayloads(text: string): Array<Record<string, any>> {
  return sseEvents(text)
    .filter((event) => event.data !== "[DONE]")
    .map((event) => JSON.parse(event.data) as Record<string, any>);
}

export interface SpendLine {
  request_id: string | null;
  model: string | null;
  spend: number;
  total_tokens: number;
  outcome: string;
}

/** GET /spend/logs?api_key=… with the master key: the key's ledger, newest first. */
export async function spendLogs(key: string): Promise<SpendLine[]> {
  const response = await call(`/spend/logs?api_key=${encodeURIComponent(key)}`);
  if (response.status !== 200) throw new Error(`spend/logs failed: ${response.status} ${await response.text()}`);
  return json<SpendLine[]>(response);
}

/**
 * POSTs a JSON body to the gateway as `key`, with environment variables overridden. A capped request's answer is
 * exactly as long as its cap when the embedded mock answers it (see withExactLength).
 */
export function post(
  vars: Record<string, string | undefined>,
  path: string,
  key: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return callWith(vars, path, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...withExactLength(body, headers) },
    body: JSON.stringify(body),
  });
}

export interface Seen {
  request: Request;
  /** Parsed JSON body of a POST, undefined for a GET. */
  body: any;
}

/**
 * Replaces the network with a fake upstream: every request the gateway sends is recorded, then answered by
 * `respond` (by default the embedded mock, so answers are realistic and token counts deterministic).
 * Restore with vi.restoreAllMocks().
 */
export function fakeUpstream(respond: (request: Request) => Response | Promise<Response> = (request) => mockUpstream(request)): Seen[] {
  const seen: Seen[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input as RequestInfo, init);
    const text = request.method === "POST" ? await request.clone().text() : "";
    seen.push({ request, body: text === "" ? undefined : JSON.parse(text) });
    return respond(request);
  });
  return seen;
}
