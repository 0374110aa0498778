import { Hono } from "hono";
import { sha256Hex } from "../../src/crypto/secret";
import type { AppEnv } from "../../src/http/app-env";
import { withConfig } from "../../src/http/config-middleware";
import { credential } from "../../src/http/credentials";
import { ApiError } from "../../src/http/errors";
import { readJson } from "../../src/http/json-body";
import { refusalError } from "../../src/http/limit-error";
import { admit, emptyState, settle, type Limits } from "../../src/limiter";
import { keyLimits } from "../../src/objects/limits";
import { keyObject } from "../../src/stubs";
import { callUpstream } from "../../src/upstream/forward";
import { openAiUsage } from "../../src/upstream/usage";
import type { AdmissionEntry, KeyObject, ObjectCalls } from "./objects";

/**
 * Baselines for `npm run bench`: the same forwarding with limiting off, and the per-replica counting that
 * edgequota replaces. Plus direct drivers of one key object (admissions per second, state size). Only the
 * benchmark's own entry (bench/worker/index.ts) serves these; the product's bundle does not contain them.
 */
export const benchRoutes = new Hono<AppEnv>();

benchRoutes.use("*", withConfig);

/** Plain forwarding: parse, forward, answer. No key, no limits. */
benchRoutes.post("/bench/plain/v1/chat/completions", async (c) => {
  const body = await readJson(c, c.var.config.maxBodyBytes);
  const upstream = await callUpstream(c.var.config, {
    path: "/v1/chat/completions",
    body,
    clientHeaders: c.req.raw.headers,
    requestId: crypto.randomUUID(),
    clientSignal: c.req.raw.signal,
  });
  return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
});

/** What a replica-local limiter does: each front door counts alone in its own memory. */
const local = new Map<string, { limits: Limits; state: ReturnType<typeof emptyState> }>();

benchRoutes.post("/bench/local/v1/chat/completions", async (c) => {
  const token = await sha256Hex(credential(c));
  let entry = local.get(token);
  if (!entry) {
    const auth = await keyObject(c.env, token).authenticate();
    if (!auth.ok) throw refusalError(auth.refusal);
    entry = { limits: keyLimits(auth.record, c.var.config), state: emptyState() };
    local.set(token, entry);
  }
  const body = (await readJson(c, c.var.config.maxBodyBytes)) as { model: string; max_tokens?: number };
  const id = crypto.randomUUID();
  const admission = admit(entry.state, entry.limits, { requestId: id, model: body.model, promptTokens: JSON.stringify(body).length, maxOutputTokens: body.max_tokens ?? null, price: null }, Date.now());
  entry.state.changed.clear();
  if (!admission.ok) throw new ApiError("tpm_limit_exceeded", "Replica-local limit exceeded.");
  const upstream = await callUpstream(c.var.config, { path: "/v1/chat/completions", body, clientHeaders: c.req.raw.headers, requestId: id, clientSignal: c.req.raw.signal });
  const payload = await upstream.json();
  const usage = openAiUsage.answer(payload);
  settle(entry.state, entry.limits, id, { tokens: usage ? usage.prompt + usage.completion : 0, cost: 0 }, Date.now());
  entry.state.changed.clear();
  return c.json(payload as object);
});

/** Drives one key object directly: `n` admit+finish pairs, `concurrency` at a time. */
benchRoutes.post("/bench/admissions", async (c) => {
  const { key, n, concurrency } = (await readJson(c, 4096)) as { key: string; n: number; concurrency: number };
  const token = await sha256Hex(key);
  const stub = keyObject(c.env, token);
  let next = 0;
  let admitted = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < n) {
      next++;
      const requestId = crypto.randomUUID();
      const result = await stub.admit({ requestId, model: "gpt-4o-mini", promptTokens: 10, promptExact: true, promptLowerBound: 10, maxOutputTokens: 10, price: null }, token);
      if (result.kind === "admitted") {
        admitted++;
        await stub.finish(requestId, { tokens: 15, cost: 0 });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  const ms = performance.now() - started;
  return c.json({ n, admitted, ms });
});

benchRoutes.get("/bench/state", async (c) => {
  const key = c.req.query("key") ?? "";
  const stub = c.env.KEYS.get(c.env.KEYS.idFromName(await sha256Hex(key))) as unknown as { stats: KeyObject["stats"] };
  return c.json(await stub.stats());
});

/** A key's (?key=secret) or a team's (?team=id) admissions with their exact instants, for the queueing benchmark. */
benchRoutes.get("/bench/admission-log", async (c) => {
  const key = c.req.query("key");
  const team = c.req.query("team");
  const stub = (key !== undefined ? c.env.KEYS.get(c.env.KEYS.idFromName(await sha256Hex(key))) : c.env.TEAMS.get(c.env.TEAMS.idFromName(team ?? ""))) as unknown as {
    admissionLog(): Promise<AdmissionEntry[]>;
  };
  return c.json({ admissions: await stub.admissionLog() });
});

/** The calls that reached a "leases-" key's object (?key=secret), for the leases benchmark's share admitted locally. */
benchRoutes.get("/bench/object-calls", async (c) => {
  const key = c.req.query("key") ?? "";
  const stub = c.env.KEYS.get(c.env.KEYS.idFromName(await sha256Hex(key))) as unknown as { objectCalls(): Promise<ObjectCalls> };
  return c.json(await stub.objectCalls());
});
