// Alerts end to end under `wrangler dev` (Miniflare runs the Queues locally): the owner objects emit, the queue
// consumer posts to a local webhook receiver, signed; failures are retried, hopeless ones dead-lettered, and an
// event emitted just before a crash is still delivered after the restart.
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { management, until } from "../helpers/e2e.mjs";
import { startWrangler } from "../helpers/wrangler.mjs";

const MASTER = "sk-e2e-master";
const SECRET = "whsec-e2e-alerts";
const RECEIVER_PORT = 9663;
const persistTo = mkdtempSync(join(tmpdir(), "edgequota-alerts-"));
const options = {
  port: 9661,
  inspectorPort: 9662,
  persistTo,
  vars: {
    MASTER_KEY: MASTER,
    ALERT_WEBHOOK_URL: `http://127.0.0.1:${RECEIVER_PORT}/hook`,
    ALERT_WEBHOOK_SECRET: SECRET,
    ALERT_RETRY_BASE_SECONDS: "1",
    ALERT_RESEND_SECONDS: "3",
  },
};

/**
 * The webhook receiver. `mode` decides how it answers: "ok" accepts; "flaky" refuses each event id's first two
 * deliveries; "dead" drops the connection without answering. Every accepted delivery is kept with its signature check.
 */
const receiver = { mode: "ok", accepted: [], attempts: new Map() };
const server = createServer((request, response) => {
  let body = "";
  request.on("data", (chunk) => (body += chunk));
  request.on("end", () => {
    const id = request.headers["x-edgequota-event-id"];
    const seen = (receiver.attempts.get(id) ?? 0) + 1;
    receiver.attempts.set(id, seen);
    if (receiver.mode === "dead") return request.socket.destroy();
    if (receiver.mode === "flaky" && seen <= 2) {
      response.writeHead(503).end("try later");
      return;
    }
    receiver.accepted.push({ id, event: JSON.parse(body), valid: verify(request.headers["x-edgequota-signature"], body) });
    response.writeHead(200).end("ok");
  });
});

/** The receiver side of the signature: t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">, recent timestamps only. */
function verify(header, body) {
  const parts = Object.fromEntries(String(header ?? "").split(",").map((part) => part.split("=")));
  const expected = createHmac("sha256", SECRET).update(`${parts.t}.${body}`).digest("hex");
  const fresh = Math.abs(Date.now() / 1000 - Number(parts.t)) < 300;
  return fresh && typeof parts.v1 === "string" && parts.v1.length === expected.length && timingSafeEqual(Buffer.from(parts.v1), Buffer.from(expected));
}

let worker = startWrangler(options);
before(async () => {
  await new Promise((resolve) => server.listen(RECEIVER_PORT, "127.0.0.1", resolve));
  await worker.ready();
});
after(async () => {
  await worker.kill();
  server.close();
  rmSync(persistTo, { recursive: true, force: true });
});

const api = (path, body, token = MASTER) => management(worker.url, path, body, token);

const chat = (key) =>
  fetch(worker.url + "/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-mock-completion-tokens": "40" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "spend a little" }], max_tokens: 40 }),
    signal: AbortSignal.timeout(30_000),
  });


const acceptedFor = (token, type) => receiver.accepted.filter(({ event }) => event.owner.id === token && event.type === type);

test("a budget's threshold and its first refusal reach the webhook once each, signed", { timeout: 120_000 }, async () => {
  receiver.mode = "ok";
  // gpt-4o-mini: each call costs about 3e-5 USD; a 1e-4 budget crosses 50% after two calls and refuses by the fourth.
  const created = await api("/key/generate", { max_budget: 0.0001, alert_thresholds: [0.5] });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const { key, token } = created.body;
  let refused = false;
  for (let i = 0; i < 12 && !refused; i++) {
    const response = await chat(key);
    await response.text();
    refused = response.status === 429;
  }
  assert.ok(refused, "the budget stopped the key");
  const threshold = await until(() => acceptedFor(token, "budget_threshold")[0], "budget_threshold", 60_000);
  const exceeded = await until(() => acceptedFor(token, "budget_exceeded")[0], "budget_exceeded", 60_000);
  assert.equal(threshold.valid, true, "budget_threshold carries a valid signature");
  assert.equal(exceeded.valid, true, "budget_exceeded carries a valid signature");
  assert.equal(threshold.event.figures.threshold, 0.5);
  assert.equal(threshold.event.figures.max_budget, 0.0001);
  // More refusals in the same period announce nothing new; give redelivery a chance to show up (it must not).
  for (let i = 0; i < 3; i++) await (await chat(key)).text();
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  assert.equal(new Set(acceptedFor(token, "budget_threshold").map(({ id }) => id)).size, 1);
  assert.equal(acceptedFor(token, "budget_exceeded").length, 1, "budget_exceeded is delivered once");
  assert.equal(acceptedFor(token, "budget_threshold").length, 1, "budget_threshold is delivered once");
});

test("a receiver that fails twice still gets the event (retries with backoff)", { timeout: 120_000 }, async () => {
  receiver.mode = "flaky";
  const { body } = await api("/key/generate", {});
  assert.equal((await api("/key/block", { key: body.key })).status, 200);
  const delivered = await until(() => acceptedFor(body.token, "key_blocked")[0], "key_blocked after two failures", 60_000);
  assert.equal(delivered.valid, true);
  assert.ok(receiver.attempts.get(delivered.id) >= 3, "it took at least three attempts");
});

test("a receiver that never answers sends the event to the dead-letter queue", { timeout: 180_000 }, async () => {
  receiver.mode = "dead";
  const { body } = await api("/key/generate", {});
  assert.equal((await api("/key/block", { key: body.key })).status, 200);
  const dead = await until(async () => {
    const { status, body: letters } = await api("/alerts/dead-letters");
    assert.equal(status, 200);
    const list = Array.isArray(letters) ? letters : (letters.dead_letters ?? letters.data ?? []);
    return list.find((letter) => JSON.stringify(letter).includes(body.token));
  }, "a dead letter for key_blocked", 150_000);
  assert.match(JSON.stringify(dead), /key_blocked/);
  assert.equal(acceptedFor(body.token, "key_blocked").length, 0);
});

test("an event emitted just before a crash is delivered after the restart", { timeout: 180_000 }, async () => {
  receiver.mode = "dead";
  const { body } = await api("/key/generate", {});
  assert.equal((await api("/key/block", { key: body.key })).status, 200);
  // Its first delivery attempt failed; the process dies before any retry succeeds.
  await until(() => [...receiver.attempts.keys()].some((id) => String(id).includes(body.token)), "a first delivery attempt", 60_000);
  await worker.kill();
  receiver.mode = "ok";
  worker = startWrangler(options);
  await worker.ready();
  const delivered = await until(() => acceptedFor(body.token, "key_blocked")[0], "key_blocked after the restart", 120_000);
  assert.equal(delivered.valid, true);
});
