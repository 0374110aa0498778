// Leases through several front doors, as the edge runs them: one authority (wrangler.toml, owns the objects) and two
// front doors (test/e2e/wrangler.frontdoor.toml) sharing its objects over the dev registry. Limits hold exactly
// across front doors that admit locally, accounting comes back whole, and a front door killed while it holds a
// lease has that lease charged in full when it ends: nothing is lost, nothing goes over.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { management, until } from "../helpers/e2e.mjs";
import { startWrangler } from "../helpers/wrangler.mjs";

const MASTER = "sk-e2e-master";
const root = mkdtempSync(join(tmpdir(), "edgequota-leases-"));
const registry = join(root, "registry");
// Front doors ask for a lease after 2 calls a second; a lease lasts 2 s (the default).
const vars = { MASTER_KEY: MASTER, LEASE_MIN_RATE: "2" };
const authority = startWrangler({ port: 9681, inspectorPort: 9682, persistTo: join(root, "authority"), vars, registry });
const doors = [
  startWrangler({ port: 9683, inspectorPort: 9684, persistTo: join(root, "door-1"), vars, registry, config: "test/e2e/wrangler.frontdoor.toml" }),
  startWrangler({ port: 9685, inspectorPort: 9686, persistTo: join(root, "door-2"), vars, registry, config: "test/e2e/wrangler.frontdoor.toml" }),
];

before(async () => {
  await authority.ready();
  await Promise.all(doors.map((door) => door.ready()));
});
after(async () => {
  await Promise.all([authority, ...doors].map((process) => process.kill()));
  rmSync(root, { recursive: true, force: true });
});

async function api(path, body) {
  const { status, body: answer, text } = await management(authority.url, path, body, MASTER);
  assert.equal(status, 200, `${path}: ${text}`);
  return answer;
}

const info = async (key) => (await api(`/key/info?key=${encodeURIComponent(key)}`)).info;

/** One call through `door`: its status and, when answered, the cost LiteLLM's header reports. */
async function chat(door, key) {
  const response = await fetch(door.url + "/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-mock-completion-tokens": "20" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "lease me" }], max_tokens: 20 }),
    signal: AbortSignal.timeout(30_000),
  });
  await response.text();
  return { status: response.status, cost: Number(response.headers.get("x-litellm-response-cost") ?? 0) };
}

/** Steady traffic: `perSecond` calls a second through each door for `ms`; every answer. */
async function steady(key, through, perSecond, ms) {
  const answers = [];
  const started = Date.now();
  await Promise.all(
    through.map(async (door) => {
      for (let sent = 0; Date.now() - started < ms; sent++) {
        answers.push(await chat(door, key));
        const next = started + ((sent + 1) * 1000) / perSecond;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
      }
    }),
  );
  return answers;
}

/** The key once nothing is in flight and no lease is out. */
const settled = (key) =>
  until(async () => {
    const current = await info(key);
    return current.usage.in_flight === 0 && current.usage.leased.leases === 0 ? current : null;
  }, "calls and leases to come back", 30_000);

const ledger = (key) => api(`/spend/logs?api_key=${encodeURIComponent(key)}&limit=1000`);

test("front doors with steady traffic borrow leases, and every call comes back to the key exactly", { timeout: 180_000 }, async () => {
  const { key } = await api("/key/generate", { key_alias: "leases-steady", max_budget: 10 });
  let leased = 0;
  const watching = (async () => {
    for (let polls = 0; polls < 40; polls++) {
      leased = Math.max(leased, (await info(key)).usage.leased.leases);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  const answers = await steady(key, doors, 10, 4_000);
  await watching;
  assert.ok(leased >= 1, "the key lent at least one lease while the front doors called it steadily");
  assert.ok(answers.every((answer) => answer.status === 200));
  const final = await settled(key);
  assert.equal(final.usage.requests, answers.length, "every call counted once in the window");
  const costs = answers.reduce((sum, answer) => sum + Math.round(answer.cost * 1e9), 0);
  assert.equal(Math.round(final.spend * 1e9), costs, "spend is the sum of the answered calls' costs");
});

test("an rpm limit holds exactly across two front doors that admit locally", { timeout: 180_000 }, async () => {
  const limit = 40;
  const { key } = await api("/key/generate", { key_alias: "leases-rpm", rpm_limit: limit });
  const answers = await steady(key, doors, 8, 4_000);
  const admitted = answers.filter((answer) => answer.status === 200).length;
  assert.ok(admitted <= limit, `never over: ${admitted} admitted for rpm_limit ${limit}`);
  assert.ok(answers.every((answer) => answer.status === 200 || answer.status === 429));
  let final = await settled(key);
  assert.equal(final.usage.requests, admitted, "the window counts exactly the admitted calls once the leases are back");
  // Tight as well as exact: once the leases are back, the rest of the limit is still there to use.
  let more = 0;
  while (final.usage.requests + more < limit) {
    const { status } = await chat(doors[more % 2], key);
    if (status !== 200) break;
    more++;
  }
  final = await settled(key);
  assert.equal(final.usage.requests, limit);
  assert.equal((await chat(doors[0], key)).status, 429);
});

test("a front door killed while it holds a lease: the lease is charged in full when it ends, nothing is lost", { timeout: 180_000 }, async () => {
  const { key } = await api("/key/generate", { key_alias: "leases-killed", max_budget: 10, rpm_limit: 10_000 });
  const doomed = doors[1];
  const answered = await steady(key, [doomed], 10, 2_500);
  const holding = await until(async () => {
    const current = await info(key);
    return current.usage.leased.leases >= 1 ? current : null;
  }, "the front door to hold a lease", 5_000, 20);
  await doomed.kill();
  assert.ok(holding.usage.leased.requests > 0);

  const final = await settled(key);
  const lines = await ledger(key);
  const expired = lines.filter((line) => line.outcome === "expired");
  assert.ok(expired.length >= 1, "the unreturned lease is charged when it ends");
  const ledgerTotal = lines.reduce((sum, line) => sum + line.spend, 0);
  assert.ok(Math.abs(ledgerTotal - final.spend) < 1e-9, "the spend log still sums to spend");
  const costs = answered.filter((answer) => answer.status === 200).reduce((sum, answer) => sum + answer.cost, 0);
  assert.ok(final.spend >= costs - 1e-9, `never undercharged: spend ${final.spend} for answered calls costing ${costs}`);
  assert.ok(final.usage.requests >= answered.length, "every answered call is counted (the lease's unused requests with them)");
  // The surviving front door and the key's object carry on.
  assert.equal((await chat(doors[0], key)).status, 200);
});
