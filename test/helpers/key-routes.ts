import { expect } from "vitest";
import { json } from "./gateway";

/** The OpenAI error envelope every SDK parses. */
export interface OpenAIError {
  error: { message: string; type: string; param: string | null; code: string | null; [extra: string]: unknown };
}

/** Independent SHA-256 hex, so the tests do not trust the gateway's own hashing. */
export async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** A label no other test in the same file (which shares storage) can collide with. */
export function unique(prefix: string): string {
  return `${prefix}-${crypto.randomUUID()}`;
}

/** A well-formed secret that was never generated. */
export function unknownSecret(): string {
  return `sk-never-issued-${crypto.randomUUID().replace(/-/g, "")}`;
}

/** Asserts status and the exact OpenAI error shape, and returns the error for further checks. */
export async function expectError(
  response: Response,
  status: number,
  expected: { code?: string; type?: string; param?: string | null } = {},
): Promise<OpenAIError["error"]> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expect(response.headers.get("content-type") ?? "").toContain("application/json");
  const body = JSON.parse(text) as OpenAIError;
  expect(Object.keys(body)).toEqual(["error"]);
  expect(body.error).toMatchObject({
    message: expect.any(String),
    type: expect.any(String),
  });
  expect(body.error).toHaveProperty("param");
  expect(body.error).toHaveProperty("code");
  expect(body.error.message.length).toBeGreaterThan(0);
  if (expected.code !== undefined) expect(body.error.code).toBe(expected.code);
  if (expected.type !== undefined) expect(body.error.type).toBe(expected.type);
  if (expected.param !== undefined) expect(body.error.param).toBe(expected.param);
  return body.error;
}

export async function ok<T = Record<string, any>>(response: Response): Promise<T> {
  if (response.status !== 200) throw new Error(`expected 200, got ${response.status}: ${await response.text()}`);
  return json<T>(response);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The settings a key carries, without what changes on every read or write. */
export function settingsOf(info: Record<string, any>): Record<string, unknown> {
  const {
    key_alias, models, team_id, user_id, metadata, max_budget, soft_budget, budget_duration, tpm_limit, rpm_limit,
    max_parallel_requests, model_tpm_limit, model_rpm_limit, model_max_budget, default_output_tokens, blocked, expires, created_at,
  } = info;
  return {
    key_alias, models, team_id, user_id, metadata, max_budget, soft_budget, budget_duration, tpm_limit, rpm_limit,
    max_parallel_requests, model_tpm_limit, model_rpm_limit, model_max_budget, default_output_tokens, blocked, expires, created_at,
  };
}
