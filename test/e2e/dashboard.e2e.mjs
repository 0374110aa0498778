// The dashboard in a real browser: Debian's chromium driven by playwright-core against `wrangler dev` (the Worker,
// its Durable Objects and the static assets exactly as deployed). Sign in with the master key, create a key, call
// through the gateway, watch the gauges and the chart move, block the key and see its next call refused (and
// counted), the other actions, a virtual key's own page, the deployments page; not one console error or failed
// request. Saves overview.png, key.png and deployments.png to a temporary folder, or to EDGEQUOTA_SCREENSHOTS
// (`EDGEQUOTA_SCREENSHOTS=docs/screenshots npm test` refreshes the README's), so a test run leaves the tree clean.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { chromium } from "playwright-core";
import { management } from "../helpers/e2e.mjs";
import { startWrangler } from "../helpers/wrangler.mjs";

const CHROMIUM = "/usr/bin/chromium";
const MASTER = "sk-e2e-dashboard-master";
const SCREENSHOTS = process.env.EDGEQUOTA_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), "edgequota-screenshots-"));
const DEPLOYMENTS = { "gpt-4o-mini": [{ id: "mock-east", base_url: "", tpm: 200000, rpm: 600 }, { id: "mock-west", base_url: "", tpm: 100000, rpm: 300 }] };

mkdirSync(SCREENSHOTS, { recursive: true });
const persistTo = mkdtempSync(join(tmpdir(), "edgequota-e2e-dashboard-"));
const worker = startWrangler({ port: 9641, inspectorPort: 9642, persistTo, vars: { MASTER_KEY: MASTER, DEPLOYMENTS: JSON.stringify(DEPLOYMENTS) } });
let browser = null;
after(async () => {
  await browser?.close().catch(() => {});
  await worker.kill();
  rmSync(persistTo, { recursive: true, force: true });
  if (process.env.EDGEQUOTA_SCREENSHOTS === undefined) rmSync(SCREENSHOTS, { recursive: true, force: true });
});

/** A management call that must succeed: its parsed answer. */
async function api(path, body, token = MASTER) {
  const { status, body: answer, text } = await management(worker.url, path, body, token);
  assert.equal(status, 200, `${path}: ${text}`);
  return answer;
}

/** A chat completion through the gateway, as any client makes it (not through the browser). */
const chat = (key, tokens = 60) =>
  fetch(worker.url + "/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-mock-completion-tokens": String(tokens) },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Tell me about rate limits at the edge." }], max_tokens: tokens }),
    signal: AbortSignal.timeout(30_000),
  });

async function calls(key, count, tokens) {
  for (let index = 0; index < count; index++) {
    const response = await chat(key, tokens);
    assert.equal(response.status, 200, await response.text());
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const number = (locator, attribute) => locator.getAttribute(attribute).then(Number);

/** A page that records every console error, uncaught exception and failed request of the dashboard. */
async function dashboardPage(context, problems) {
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`exception: ${error.message}`));
  page.on("requestfailed", (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  return page;
}

async function signIn(page, key) {
  await page.goto(`${worker.url}/ui`);
  await page.getByLabel("Key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Waits until the page's value (read in the browser) satisfies `check`; says what it last saw when it does not. */
async function until(page, read, check, what, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await read(page).catch((error) => `unreadable: ${error.message}`);
    if (check(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last saw ${JSON.stringify(last)}`);
    await sleep(250);
  }
}

const gaugeValue = (name) => (page) => number(page.locator(`[data-gauge="${name}"]`).first(), "data-value");

test("the dashboard in chromium: sign in, create a key, watch it move, block it, every action, no console error", { timeout: 300_000 }, async () => {
  assert.ok(
    existsSync(CHROMIUM),
    `Debian's chromium is missing at ${CHROMIUM}: the dashboard's browser test needs it. Install it with \`apt-get install -y chromium\` (.ci/run does).`,
  );
  await worker.ready();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"], timeout: 60_000 });
  const problems = [];

  // Other keys and teams, so the overview shows more than one row.
  await api("/team/new", { team_id: "research", team_alias: "Research", tpm_limit: 120000, max_budget: 25, budget_duration: "30d" });
  await api("/team/new", { team_id: "support", team_alias: "Support", rpm_limit: 300, max_parallel_requests: 20 });
  const others = [];
  for (const [alias, settings] of [
    ["research-batch", { team_id: "research", tpm_limit: 60000, rpm_limit: 120, max_budget: 10, budget_duration: "30d" }],
    ["support-bot", { team_id: "support", tpm_limit: 20000, rpm_limit: 60, max_parallel_requests: 4, max_budget: 2 }],
    ["ci-nightly", { tpm_limit: 8000, rpm_limit: 30, max_budget: 0.5, budget_duration: "1d" }],
  ]) others.push(await api("/key/generate", { key_alias: alias, ...settings }));
  await calls(others[0].key, 6, 400);
  await calls(others[1].key, 4, 900);
  await calls(others[2].key, 3, 1500);
  await api("/key/block", { key: others[2].key });

  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await dashboardPage(context, problems);

  // Sign in with the master key: the overview lists every key and team with live gauges.
  await signIn(page, MASTER);
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  await page.locator('[data-key]', { hasText: "research-batch" }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("edgequota.key")), MASTER);
  assert.equal(await page.evaluate(() => localStorage.length + document.cookie.length), 0, "the key is kept in session storage only");

  // Create a key: the secret is shown once, then the key's page opens.
  await page.getByRole("button", { name: "Create key" }).click();
  const form = page.locator("dialog form");
  await form.getByLabel("Alias").fill("web-app");
  await form.getByLabel("Team").selectOption("research");
  await form.getByLabel("Tokens per window").fill("30000");
  await form.getByLabel("Requests per window").fill("100");
  await form.getByLabel("Parallel requests").fill("8");
  await form.getByLabel("Budget (USD)").fill("5");
  await form.getByLabel("Budget period (30d, 1mo…)").fill("30d");
  await page.getByRole("button", { name: "Create", exact: true }).click();
  const secret = (await page.locator("[data-secret]").textContent()).trim();
  assert.match(secret, /^sk-/);
  await page.getByRole("button", { name: "I have saved it" }).click();
  await page.waitForURL(/#\/key\/[0-9a-f]{64}$/);
  const token = page.url().split("/").pop();
  await page.getByRole("heading", { name: /web-app/ }).waitFor();
  assert.equal(await gaugeValue("tokens")(page), 0);
  assert.equal(await number(page.locator('[data-gauge="tokens"]').first(), "data-limit"), 30000);
  await page.locator('[data-chart="empty"]').waitFor();

  // Calls through the gateway move the gauges, the chart and the calls table on their own (no reload).
  await calls(secret, 3, 120);
  const tokensAfterThree = await until(page, gaugeValue("tokens"), (value) => value > 0, "the tokens gauge to move");
  await until(page, gaugeValue("requests"), (value) => value === 3, "the requests gauge to reach 3");
  await until(page, (p) => number(p.locator("svg.chart"), "data-calls"), (value) => value === 3, "the chart to plot 3 calls");
  const spendAfterThree = await until(page, gaugeValue("spend"), (value) => value > 0, "the spend gauge to move");
  await sleep(1500);
  await calls(secret, 4, 250);
  await until(page, gaugeValue("tokens"), (value) => value > tokensAfterThree, "the tokens gauge to grow");
  await until(page, gaugeValue("spend"), (value) => value > spendAfterThree, "the spend gauge to grow");
  await until(page, (p) => number(p.locator("svg.chart"), "data-calls"), (value) => value === 7, "the chart to plot 7 calls");
  assert.ok((await page.locator('svg.chart [data-series="tokens"] rect').count()) >= 2, "token bars in at least two intervals");
  assert.equal(await page.locator('[data-table="calls"] tr[data-outcome="settled"]').count(), 7);
  // The numbers are the key's object's: the page shows exactly what /key/info says.
  const info = (await api(`/key/info?key=${token}`)).info;
  await until(page, gaugeValue("tokens"), (value) => value === info.usage.tokens, `the tokens gauge to show /key/info's ${info.usage.tokens}`);
  assert.equal(await gaugeValue("spend")(page), info.spend);

  // Block it: its next call is refused, and the refusal is counted on its page.
  await page.getByRole("button", { name: "Block", exact: true }).click();
  await page.locator("dialog").getByRole("button", { name: "Block" }).click();
  await page.locator('h1 [data-state="blocked"]').waitFor();
  const refused = await chat(secret);
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error.code, "key_blocked");
  await until(page, (p) => p.locator('[data-panel="refusals"] tr[data-reason="key_blocked"] td.num').textContent(), (text) => text === "1", "the refusal to be counted");
  await page.getByRole("button", { name: "Unblock" }).click();
  await page.locator('h1 [data-state="active"]').waitFor();
  assert.equal((await chat(secret)).status, 200);

  // Update limits: the gauge's limit follows.
  await page.getByRole("button", { name: "Update limits" }).click();
  await page.locator("dialog form").getByLabel("Tokens per window").fill("45000");
  await page.getByRole("button", { name: "Save" }).click();
  await until(page, (p) => number(p.locator('[data-gauge="tokens"]').first(), "data-limit"), (value) => value === 45000, "the new limit");
  await until(page, (p) => number(p.locator("svg.chart"), "data-calls"), (value) => value === 8, "the chart to plot the eighth call");
  await page.screenshot({ path: join(SCREENSHOTS, "key.png"), fullPage: true });

  // The overview: every key with live gauges; search, sort, filter by team.
  await page.getByRole("link", { name: "Overview" }).click();
  await page.locator('[data-key]', { hasText: "web-app" }).waitFor();
  assert.equal(await page.locator("[data-key]").count(), 4);
  assert.equal(await page.locator('[data-key]', { hasText: "ci-nightly" }).locator("xpath=ancestor::tr").locator('[data-state="blocked"]').count(), 1);
  await page.screenshot({ path: join(SCREENSHOTS, "overview.png"), fullPage: true });
  await page.getByLabel("Search").fill("support");
  await until(page, (p) => p.locator("[data-key]").allTextContents(), (names) => names.join() === "support-bot", "the search to keep support-bot only");
  await page.getByLabel("Search").fill("");
  await page.locator("th", { hasText: "Spend" }).first().click();
  await page.locator("th", { hasText: "Spend" }).first().click(); // descending: the biggest spender first
  const spends = await page.locator('tbody [data-gauge="spend"]').evaluateAll((gauges) => gauges.map((gauge) => Number(gauge.dataset.value)));
  assert.deepEqual(spends.slice(0, 4), [...spends.slice(0, 4)].sort((a, b) => b - a), "sorted by spend, descending");
  await page.getByLabel("Team").selectOption("research");
  await until(page, (p) => p.locator("[data-key]").allTextContents(), (names) => [...names].sort().join() === "research-batch,web-app", "the team filter");
  await page.getByLabel("Team").selectOption("");

  // Deployments: each one's window, cool-down state and remaining capacity.
  await page.getByRole("link", { name: "Deployments" }).click();
  await page.locator('[data-deployment="mock-east"]').waitFor();
  // The page shows what the deployments' objects say (read again each time: their windows drain as time passes).
  const requestsShown = (p) => p.locator('tbody [data-gauge="requests"]').evaluateAll((gauges) => gauges.map((gauge) => Number(gauge.dataset.value)));
  await until(page, async (p) => [await requestsShown(p), (await api("/deployment/list")).deployments.map((deployment) => deployment.requests)],
    ([shown, actual]) => shown.join() === actual.join() && actual.reduce((sum, n) => sum + n, 0) >= 8, "the deployments' windows as their objects count them");
  assert.equal(await page.locator('[data-deployment]').count(), 2);
  assert.equal(await page.locator('[data-state="cooling"]').count(), 0);
  await page.screenshot({ path: join(SCREENSHOTS, "deployments.png"), fullPage: true });

  // Regenerate (the new secret is shown once; the old one stops working) and delete, each after a confirmation.
  await page.goto(`${worker.url}/ui#/key/${others[0].token}`);
  await page.getByRole("heading", { name: /research-batch/ }).waitFor();
  await page.getByRole("button", { name: "Regenerate secret" }).click();
  await page.locator("dialog").getByRole("button", { name: "Regenerate" }).click();
  const regenerated = (await page.locator("[data-secret]").textContent()).trim();
  await page.getByRole("button", { name: "I have saved it" }).click();
  await page.getByRole("heading", { name: /research-batch/ }).waitFor();
  assert.notEqual(page.url().split("/").pop(), others[0].token);
  assert.equal((await chat(others[0].key)).status, 401);
  assert.equal((await chat(regenerated)).status, 200);
  await page.getByRole("button", { name: "Delete" }).click();
  await page.locator("dialog").getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("heading", { name: /research-batch/ }).waitFor();
  await page.getByRole("button", { name: "Delete" }).click();
  await page.locator("dialog").getByRole("button", { name: "Delete" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  await until(page, (p) => p.locator("[data-key]").allTextContents(), (names) => !names.includes("research-batch") && names.length === 3, "the deleted key to leave the list");
  assert.equal((await chat(regenerated)).status, 401);

  // A virtual key signs in to its own page only: it never asks for the list of keys.
  const own = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const keyPage = await dashboardPage(own, problems);
  const asked = [];
  keyPage.on("request", (request) => asked.push(new URL(request.url()).pathname));
  await signIn(keyPage, secret);
  await keyPage.getByRole("heading", { name: /web-app/ }).waitFor();
  await until(keyPage, gaugeValue("requests"), (value) => value === 8, "its own requests");
  assert.equal(await keyPage.getByRole("link", { name: "Overview" }).count(), 0);
  assert.equal(await keyPage.getByRole("button", { name: "Block" }).count(), 0);
  await keyPage.goto(`${worker.url}/ui#/deployments`);
  await keyPage.getByRole("heading", { name: /web-app/ }).waitFor();
  assert.deepEqual(asked.filter((path) => /^\/(key\/list|team\/|deployment\/)/.test(path)), []);
  await keyPage.getByRole("button", { name: "Sign out" }).click();
  await keyPage.getByRole("button", { name: "Sign in" }).waitFor();
  assert.equal(await keyPage.evaluate(() => sessionStorage.length), 0);

  assert.deepEqual(problems, [], "no console error, exception or failed request");
});
