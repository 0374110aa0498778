#!/usr/bin/env node
// npm run bench [-- --quick] [-- --only queueing|leases]
// Runs every scenario of the benchmark side by side in one run on this machine and writes the results, with
// the command that produced them, to BENCHMARKS.md (BENCHMARKS.quick.md for --quick). Targets are printed
// next to the measured numbers; a missed target is reported as missed, never tuned away.
// --only queueing runs just section 8 (a topology of its own), --only leases just section 9 (topologies of its own),
// and puts that section into the existing file in place of its previous version, leaving the other sections as they
// were.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { MASTER, api, chatBody, percentile, restarts, runLoad, timeouts } from "./load.mjs";
import { leases } from "./leases.mjs";
import { startTopology, stopAll, stopTopology } from "./processes.mjs";
import { queueing } from "./queueing.mjs";
import { utilization } from "./utilization.mjs";

const quick = process.argv.includes("--quick");
const onlyIndex = process.argv.indexOf("--only");
const only = onlyIndex === -1 ? null : (process.argv[onlyIndex + 1] ?? "");
if (only !== null && only !== "queueing" && only !== "leases") {
  console.error(`--only: unknown section "${only}" (only "queueing" and "leases" can run alone)`);
  process.exit(2);
}
const command = `npm run bench --${quick ? " --quick" : ""}${only ? ` --only ${only}` : ""}`.replace(/ --$/, "");
const output = quick ? "BENCHMARKS.quick.md" : "BENCHMARKS.md";
const WINDOW_S = quick ? 4 : 10;
const UTILIZATION_WINDOW_S = quick ? 10 : 30;
const FRONT_DOORS = [1, 2, 4];
const size = quick
  ? { tpm: 6_000, budget: 0.01, overheadRequests: 200, admissions: 3_000, stateStages: [1_000, 5_000, 10_000] }
  : { tpm: 30_000, budget: 0.05, overheadRequests: 2_000, admissions: 20_000, stateStages: [10_000, 50_000, 100_000] };

const report = [];
const say = (line = "") => {
  console.log(line);
  report.push(line);
};
const fmt = (value, digits = 3) => (Number.isFinite(value) ? value.toFixed(digits) : String(value));
const verdict = (ok) => (ok ? "met" : "**missed**");

async function settledInfo(base, key) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const { info } = await api(base, `/key/info?key=${encodeURIComponent(key)}`);
    if (info.usage.in_flight === 0) return info;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("reservations still in flight after 10 s");
}

async function tpmAccuracy(topology) {
  say(`## 1. TPM accuracy across front doors`);
  say();
  say(`One key, tpm_limit ${size.tpm}, window ${WINDOW_S} s, 32 concurrent clients spread evenly over N front doors for one window,`);
  say(`each request max_tokens 50 (well above the limit in total). Ratio = tokens of the answers received within one`);
  say(`window of the first send (so certainly admitted within the window starting at the first admission) / tpm_limit.`);
  say(`"per-front-door counter" is the same load against a bench-only route where each front door counts alone in`);
  say(`its own memory, as replicas do in the tools this replaces. Target (edgequota): 0.97 <= ratio <= 1.00 for every N.`);
  say();
  say(`| front doors N | edgequota ratio | requests admitted | target | answers by status | per-front-door counter ratio |`);
  say(`|---|---|---|---|---|---|`);
  const body = chatBody(50);
  for (const n of FRONT_DOORS) {
    const doors = topology.frontDoors.slice(0, n);
    const results = {};
    for (const mode of ["exact", "local"]) {
      const { key } = await api(topology.authority.url, "/key/generate", { tpm_limit: size.tpm, key_alias: `tpm-${mode}-${n}` });
      const path = mode === "exact" ? "/v1/chat/completions" : "/bench/local/v1/chat/completions";
      let tokens = 0;
      let admitted = 0;
      const statuses = {};
      await runLoad({
        target: (index) => doors[index % n].url + path,
        key,
        body,
        concurrency: 32,
        maxRequests: 1_000_000,
        maxMs: WINDOW_S * 1000 - 200,
        onResponse: (response, text, _sentMs, receivedMs) => {
          statuses[response.status] = (statuses[response.status] ?? 0) + 1;
          // Only answers received within one window of the first send were certainly admitted inside the
          // window that starts at the first admission; a request stalled past it (e.g. by a wrangler reload)
          // may rightly have been admitted in the next window and must not be counted against this one.
          if (response.status !== 200 || receivedMs > WINDOW_S * 1000) return;
          admitted++;
          tokens += JSON.parse(text).usage.total_tokens;
        },
      });
      results[mode] = { ratio: tokens / size.tpm, admitted, statuses };
      // Let the window drain so the next run starts clean on the shared machine.
    }
    const ok = results.exact.ratio >= 0.97 && results.exact.ratio <= 1.0;
    const statuses = Object.entries(results.exact.statuses).map(([status, count]) => `${status}: ${count}`).join(", ");
    say(`| ${n} | ${fmt(results.exact.ratio)} | ${results.exact.admitted} | ${verdict(ok)} | ${statuses} | ${fmt(results.local.ratio)} (${results.local.admitted} requests) |`);
  }
  say();
}

async function budgetAccuracy(topology) {
  say(`## 3. Budget accuracy`);
  say();
  const doors = topology.frontDoors.slice(0, 2);
  const { key } = await api(topology.authority.url, "/key/generate", { max_budget: size.budget, key_alias: "budget" });
  let costs = 0;
  let admitted = 0;
  await runLoad({
    target: (index) => doors[index % doors.length].url + "/v1/chat/completions",
    key,
    body: chatBody(50),
    concurrency: 64,
    maxRequests: 200_000,
    maxMs: 120_000,
    onResponse: (response) => {
      if (response.status !== 200) return;
      admitted++;
      costs += Number(response.headers.get("x-litellm-response-cost"));
    },
    // Waiting cannot help once spend alone has reached the budget: the gateway says so with x-should-retry.
    stopWhen: (response) => response.status === 429 && response.headers.get("x-should-retry") === "false",
  });
  const info = await settledInfo(topology.authority.url, key);
  const ratio = info.spend / size.budget;
  const difference = Math.abs(info.spend - costs);
  say(`64 concurrent clients over 2 front doors against max_budget ${size.budget} USD (gpt-4o-mini list prices), until the`);
  say(`gateway answers budget_exceeded with x-should-retry: false. Targets: 0.97 <= spend / max_budget <= 1.00, and`);
  say(`/key/info spend equal to the sum of the per-response x-litellm-response-cost.`);
  say();
  say(`| requests admitted | final spend (USD) | spend / max_budget | target | sum of response costs | difference | target |`);
  say(`|---|---|---|---|---|---|---|`);
  say(`| ${admitted} | ${info.spend} | ${fmt(ratio, 4)} | ${verdict(ratio >= 0.97 && ratio <= 1)} | ${costs.toFixed(9)} | ${difference.toExponential(2)} | ${verdict(difference < 1e-9)} |`);
  say();
}

async function overhead(topology) {
  say(`## 4. Overhead of the limiter`);
  say();
  say(`The same chat request against the same embedded upstream through one Worker process: (a) the bench-only`);
  say(`plain forwarding route (parse, forward, answer; no key, no limits) and (b) the full path (authenticate and`);
  say(`reserve at the key's Durable Object, forward, settle after the response). ${size.overheadRequests} requests per`);
  say(`path and concurrency, alternated in two rounds so both see the same machine. Targets: p50 added <= 1 ms,`);
  say(`p99 added <= 5 ms, throughput >= 0.85 of plain forwarding.`);
  say();
  say(`| concurrency | plain p50 / p99 (ms) | full p50 / p99 (ms) | p50 added | p99 added | plain req/s | full req/s | throughput ratio | targets |`);
  say(`|---|---|---|---|---|---|---|---|---|`);
  const { key } = await api(topology.authority.url, "/key/generate", { key_alias: "overhead" });
  const base = topology.authority.url;
  for (const concurrency of [1, 16, 64]) {
    const runs = { plain: { latencies: [], wallMs: 0, sent: 0 }, full: { latencies: [], wallMs: 0, sent: 0 } };
    for (let round = 0; round < 2; round++) {
      for (const mode of ["plain", "full"]) {
        const result = await runLoad({
          target: () => base + (mode === "plain" ? "/bench/plain/v1/chat/completions" : "/v1/chat/completions"),
          key,
          body: chatBody(16),
          concurrency,
          maxRequests: Math.ceil(size.overheadRequests / 2),
          maxMs: 120_000,
        });
        runs[mode].latencies.push(...result.latencies);
        runs[mode].wallMs += result.wallMs;
        runs[mode].sent += result.sent;
      }
    }
    const stats = (run) => ({ p50: percentile(run.latencies, 50), p99: percentile(run.latencies, 99), rps: (run.sent / run.wallMs) * 1000 });
    const plain = stats(runs.plain);
    const full = stats(runs.full);
    const p50Added = full.p50 - plain.p50;
    const p99Added = full.p99 - plain.p99;
    const ratio = full.rps / plain.rps;
    const ok = `p50 ${verdict(p50Added <= 1)}, p99 ${verdict(p99Added <= 5)}, throughput ${verdict(ratio >= 0.85)}`;
    say(`| ${concurrency} | ${fmt(plain.p50, 2)} / ${fmt(plain.p99, 2)} | ${fmt(full.p50, 2)} / ${fmt(full.p99, 2)} | ${fmt(p50Added, 2)} | ${fmt(p99Added, 2)} | ${fmt(plain.rps, 0)} | ${fmt(full.rps, 0)} | ${fmt(ratio, 2)} | ${ok} |`);
  }
  say();
}

async function hotKey(topology) {
  say(`## 5. Hot key`);
  say();
  const { key } = await api(topology.authority.url, "/key/generate", { key_alias: "hot", tpm_limit: 1e12, rpm_limit: 1e9 });
  const result = await api(topology.authority.url, "/bench/admissions", { key, n: size.admissions, concurrency: 64 });
  const perSecond = (result.admitted / result.ms) * 1000;
  say(`${size.admissions} admissions (each followed by its settlement) driven at one key's Durable Object from inside`);
  say(`the Worker, 64 at a time, with tpm and rpm limits set so every check runs. Target: >= 1,000 admissions/s.`);
  say();
  say(`| admissions | seconds | admissions/s | target |`);
  say(`|---|---|---|---|`);
  say(`| ${result.admitted} | ${fmt(result.ms / 1000, 2)} | ${fmt(perSecond, 0)} | ${verdict(perSecond >= 1000)} |`);
  say();
}

async function boundedState(topology) {
  say(`## 6. Bounded state`);
  say();
  say(`One key's Durable Object after growing numbers of requests (admit + settle each). Target: O(1) in the number`);
  say(`of requests, the spend log's retention bound (10,000 lines, pruned in batches of 1,000) aside.`);
  say(`"limiter entries" are the stored rows of windows, budgets and reservations; "buckets" and "in flight" are what`);
  say(`the object holds in memory.`);
  say();
  say(`| requests | database bytes | limiter entries | buckets in memory | in flight | spend log lines |`);
  say(`|---|---|---|---|---|---|`);
  const { key } = await api(topology.authority.url, "/key/generate", { key_alias: "state", tpm_limit: 1e12 });
  let done = 0;
  const rows = [];
  for (const stage of size.stateStages) {
    console.error(`  state: driving to ${stage} requests`);
    // In chunks of a few seconds each, so no single request runs for minutes. In full runs a chunk's answer
    // was sometimes never delivered late in the run (not reproduced alone: 20,000 hot-key admissions then 10,000
    // here went through, see the notes); such a chunk is sent again after a minute, so the object may see a little
    // more than the stage's count: the bound is what is measured.
    while (done < stage) {
      const n = Math.min(2_000, stage - done);
      await api(topology.authority.url, "/bench/admissions", { key, n, concurrency: 64 }, MASTER, { timeoutMs: 60_000, retryTimeouts: true });
      done += n;
    }
    const stats = await api(topology.authority.url, `/bench/state?key=${encodeURIComponent(key)}`);
    rows.push(stats);
    say(`| ${stage} | ${stats.databaseBytes} | ${stats.limiterEntries} | ${stats.buckets} | ${stats.reservations} | ${stats.ledgerRows} |`);
  }
  const first = rows[0];
  const last = rows[rows.length - 1];
  const bounded = last.limiterEntries <= 700 && last.buckets <= 601 && last.ledgerRows <= 11_000;
  say();
  say(`Limiter entries ${first.limiterEntries} -> ${last.limiterEntries}, buckets ${first.buckets} -> ${last.buckets} while requests grew`);
  say(`${size.stateStages[size.stateStages.length - 1] / size.stateStages[0]}x: ${verdict(bounded)} (bounded by 601 buckets per window and the ledger retention).`);
  say();
}

/** Section 8 or 9 alone, spliced into the existing results file in place of its previous version. */
async function onlySection() {
  const started = Date.now();
  const section = only === "queueing" ? 8 : 9;
  const heading = only === "queueing" ? /^## 8\. Queueing/ : /^## 9\. Leases/;
  const lines = [];
  try {
    const provenance =
      `Measured alone by \`${command}\` on ${new Date().toISOString().slice(0, 10)} (${cpus().length} cores, Node ${process.version}), ` +
      `not in the run that produced the sections around it.`;
    const sayHere = (line = "") => {
      console.log(line);
      lines.push(line);
    };
    if (only === "queueing") {
      const vars = { MASTER_KEY: MASTER, RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_S) };
      const topology = await startTopology(2, vars);
      console.error(`topology up after ${fmt((Date.now() - started) / 1000, 0)} s`);
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      await queueing(topology, { quick, say: sayHere, fmt, verdict, windowS: WINDOW_S, section, provenance });
    } else {
      // Its own topologies, one after the other.
      await leases({ quick, say: sayHere, fmt, verdict, master: MASTER, windowS: WINDOW_S, section, provenance });
    }
  } finally {
    stopAll();
  }
  const previous = existsSync(output) ? readFileSync(output, "utf8").split("\n") : [`# Benchmarks`, ``];
  const begin = previous.findIndex((line) => heading.test(line));
  let merged;
  if (begin !== -1) {
    let end = begin + 1;
    while (end < previous.length && !/^## /.test(previous[end]) && !/^Total run time:/.test(previous[end])) end++;
    merged = [...previous.slice(0, begin), ...lines, ...previous.slice(end)];
  } else {
    // Where a full run puts it: after the sections before it, before the run's footer (or at the end).
    const footer = previous.findIndex((line) => /^Total run time:/.test(line));
    const at = footer === -1 ? previous.length : footer;
    merged = [...previous.slice(0, at), ...lines, ...previous.slice(at)];
  }
  writeFileSync(output, merged.join("\n").replace(/\n*$/, "\n"));
  console.error(`section ${section} written into ${output} (${fmt((Date.now() - started) / 1000, 0)} s)`);
}

async function main() {
  if (only !== null) return onlySection();
  const started = Date.now();
  say(`# Benchmarks`);
  say();
  say(`Produced by \`${command}\` on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? "unknown cpu"}), Node ${process.version}.`);
  say(`Everything runs locally under \`wrangler dev\`: one authority process owning the Durable Objects and up to four`);
  say(`front-door processes reaching them through wrangler's dev registry (\`bench/wrangler.frontdoor.toml\`, \`script_name\`),`);
  say(`all on loopback, against the embedded mock upstream. Absolute times on this shared 2-core machine vary;`);
  say(`compare the side-by-side ratios.`);
  say();
  const vars = { MASTER_KEY: MASTER, RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_S) };
  const topology = await startTopology(Math.max(...FRONT_DOORS), vars);
  try {
    console.error(`topology up after ${fmt((Date.now() - started) / 1000, 0)} s`);
    // wrangler dev reloads a runtime when the dev registry changes (front doors registering); let that settle.
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    await tpmAccuracy(topology);
    await utilization(topology, { quick, say, fmt, verdict, windowS: WINDOW_S, section: 2, title: `stress, ${WINDOW_S} s windows` });
    await budgetAccuracy(topology);
    await overhead(topology);
    await hotKey(topology);
    await boundedState(topology);
    // Section 8 runs on this topology (its windows), but is printed after section 7 to keep the numbering.
    const queueingLines = [];
    await queueing(topology, { quick, say: (line = "") => queueingLines.push(line), fmt, verdict, windowS: WINDOW_S, section: 8 });
    // The same traffic against windows closer to production's 60 s: a call's 0.3-2 s in flight is then a smaller
    // share of the window, as it is in production. A topology of its own, as the window is a Worker variable.
    await stopTopology();
    const longWindow = await startTopology(2, { ...vars, RATE_LIMIT_WINDOW_SECONDS: String(UTILIZATION_WINDOW_S) });
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    await utilization(longWindow, { quick, say, fmt, verdict, windowS: UTILIZATION_WINDOW_S, section: 7, windows: 4, title: `${UTILIZATION_WINDOW_S} s windows`, extras: false });
    for (const line of queueingLines) say(line);
    // Section 9 runs on topologies of its own (simulated distance and leases are Worker variables).
    await stopTopology();
    await leases({ quick, say, fmt, verdict, master: MASTER, windowS: WINDOW_S, section: 9 });
  } finally {
    stopAll();
  }
  say(`Total run time: ${fmt((Date.now() - started) / 1000, 0)} s. Management calls retried after wrangler restarted its runtime: ${restarts}; after an answer never came: ${timeouts}.`);
  writeFileSync(output, report.join("\n") + "\n");
}

main().catch((error) => {
  console.error(error);
  stopAll();
  process.exit(1);
});
