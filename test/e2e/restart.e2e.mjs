// A process that dies with calls in flight loses nothing: keys, spend, window usage and the spend log survive
// the restart, and the in-flight reservations expire and are charged at their estimate.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { management, until } from "../helpers/e2e.mjs";
import { startWrangler } from "../helpers/wrangler.mjs";

const MASTER = "sk-e2e-master";
const persistTo = mkdtempSync(join(tmpdir(), "edgequota-e2e-"));
// Per-call reservations across a crash; a front door that dies holding a lease is leases.e2e.mjs's subject.
const options = { port: 9611, inspectorPort: 9612, persistTo, vars: { MASTER_KEY: MASTER, RESERVATION_TTL_MS: "6000", LEASES: "off" } };
let worker = startWrangler(options);
after(async () => {
  await worker.kill();
  rmSync(persistTo, { recursive: true, force: true });
});

/** A management call that must succeed: its parsed answer. */
async function api(path, body, token = MASTER) {
  const { status, body: answer, text } = await management(worker.url, path, body, token);
  assert.equal(status, 200, `${path}: ${text}`);
  return answer;
}

const chat = (key, headers = {}) =>
  fetch(worker.url + "/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "survive a crash" }], max_tokens: 40 }),
  });

async function info(key) {
  return (await api(`/key/info?key=${encodeURIComponent(key)}`)).info;
}


test("a killed process loses no key, spend, window or ledger line, and charges what was in flight", { timeout: 240_000 }, async () => {
  await worker.ready();
  const { key } = await api("/key/generate", { key_alias: "crash", max_budget: 10, tpm_limit: 1_000_000 });
  for (let index = 0; index < 5; index++) assert.equal((await chat(key)).status, 200);
  const before = await until(async () => {
    const current = await info(key);
    return current.usage.in_flight === 0 ? current : null;
  }, "the first calls to settle");
  assert.ok(before.spend > 0);

  // Ten calls that will still be waiting on the upstream when the process dies.
  const inFlight = Array.from({ length: 10 }, () => chat(key, { "x-mock-latency-ms": "60000" }).catch(() => null));
  const loaded = await until(async () => {
    const current = await info(key);
    return current.usage.in_flight === 10 ? current : null;
  }, "ten calls in flight", 5_000);
  await worker.kill();
  await Promise.all(inFlight);

  worker = startWrangler(options);
  await worker.ready();
  const restarted = await info(key);
  assert.equal(restarted.key_alias, "crash");
  assert.equal(restarted.max_budget, 10);
  assert.ok(restarted.spend >= before.spend);
  // The window still holds what was counted before the crash, in-flight reservations included.
  assert.ok(restarted.usage.tokens >= loaded.usage.tokens || restarted.usage.in_flight < 10);

  const after = await until(async () => {
    const current = await info(key);
    return current.usage.in_flight === 0 ? current : null;
  }, "the orphaned reservations to expire", 60_000);
  const ledger = await api(`/spend/logs?api_key=${encodeURIComponent(key)}&limit=100`);
  const expired = ledger.filter((line) => line.outcome === "expired");
  assert.equal(expired.length, 10, "every orphaned reservation ends exactly once, as expired");
  for (const line of expired) assert.ok(line.spend > 0 && line.total_tokens > 0, "charged at its estimate, never zero");
  assert.equal(ledger.filter((line) => line.outcome === "settled").length, 5);
  const ledgerNanos = ledger.reduce((sum, line) => sum + Math.round(line.spend * 1e9), 0);
  assert.equal(ledgerNanos, Math.round(after.spend * 1e9), "the ledger sums to spend");
  const expiredNanos = expired.reduce((sum, line) => sum + Math.round(line.spend * 1e9), 0);
  assert.equal(Math.round(after.spend * 1e9), Math.round(before.spend * 1e9) + expiredNanos);
});
