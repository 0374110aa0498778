import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { app } from "../../src/app";

/** Calls the app with some variables changed, as a Worker deployed with that configuration would see them. */
export async function callWith(vars: Record<string, string | undefined>, path: string, init: RequestInit = {}): Promise<Response> {
  return await app.fetch(new Request(`http://gateway.test${path}`, init), { ...env, ...vars }, createExecutionContext());
}
