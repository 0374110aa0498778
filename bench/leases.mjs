// The "leases" scenario of `npm run bench` (section 9): front doors far from a key's Durable Object, with and
// without leases (src/leases, src/limiter/lease.ts). Distance is simulated: BENCH_OBJECT_DELAY_MS makes every
// front-door-to-object call wait that long before it is made (bench/worker/index.ts). The hot key's object's own
// limit (about 1,000 calls/s on Cloudflare) is modelled with BENCH_OBJECT_SERVICE_MS (bench/worker/objects.ts): on
// this 2-core machine the front doors would saturate long before one object does.
//
// Three topologies, one after the other in one run, each an authority and 4 front doors:
//   baseline: BENCH_OBJECT_DELAY_MS=0,  LEASES=off;
//   off:      BENCH_OBJECT_DELAY_MS=50, LEASES=off;
//   on:       BENCH_OBJECT_DELAY_MS=50, LEASES=on (every LEASE_* at its default).
// In each: a steady key (paced realistic calls through one front door: added latency, share admitted locally);
// in off and on, a hot key (closed loops over the 4 front doors: answers per second) with and without the modelled
// object limit, and TPM accuracy under realistic over-demand for strict and adaptive (bench/utilization.mjs's
// measurement). Calls that reach the key's object are counted there ("leases-" keys, /bench/object-calls).
// Every loop is bounded in time and in count; loopback only.
import { loadavg } from "node:os";
import { api, chatBody, percentile, runLoad } from "./load.mjs";
import { startTopology, stopTopology } from "./processes.mjs";
import { measurePolicy, planOf, sizeKey, utilizationMet } from "./utilization.mjs";

const FRONT_DOORS = 4;
/** Simulated distance from every front door to the objects, per call. */
const DISTANCE_MS = 50;
/**
 * Modelled object limit for the hot key: each call to its object holds it this long (one at a time), so it admits at
 * most 1000 / (2 * SERVICE_MS) calls/s without leases. 5 ms gave about 75/s, against at most about 165-195/s that the
 * 4 front doors do on this machine when they admit every call locally: a 3x target could not show even if leases
 * took all the load. 10 ms puts the object below a quarter of what the front doors can do.
 */
const SERVICE_MS = 10;
/** Steady key: LOOPS paced loops, each sending one call every PERIOD_MS (LOOPS / PERIOD_MS calls per ms). */
const STEADY_LOOPS = 12;
const STEADY_PERIOD_MS = 400;
const STEADY_MOCK_LATENCY_MS = 200;
/** Steady key's limits per window: far above its traffic, so no call is refused and leases are never near_limit. */
const STEADY_LIMITS = { tpm_limit: 50_000_000, rpm_limit: 1_000_000 };
/**
 * Windows of the steady and hot keys' topologies: production's default. The owner caps a lease at a quarter of its
 * window (src/limiter/lease.ts), so the 10 s windows the accuracy runs use (to be short) would cap leases at 2.5 s,
 * which matters against a slow owner; the hot key is measured in both.
 */
const LATENCY_WINDOW_S = 60;
/** Hot key: closed loops spread evenly over the front doors, limits that never bind. */
const HOT_CONCURRENCY = 64;
const HOT_LIMITS = { tpm_limit: 1e12, rpm_limit: 1e9 };
const HOT_TARGET_RATIO = 3;
/** Accuracy: clients over 2 front doors, enough that each front door sees >= LEASE_MIN_RATE admitted calls a second. */
const ACCURACY_DOORS = 2;
const ACCURACY_CLIENTS = 48;
/** A call stalled this long is abandoned and counted as failed. */
const CALL_TIMEOUT_MS = 30_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The steady key's call `k` of loop `l`: a realistic prompt (utilization.mjs's generator), answered whole after a modest latency. */
function steadyCall(l, k) {
  const plan = planOf(1_000 + l, k);
  const { stream: _stream, stream_options: _options, ...body } = JSON.parse(plan.body);
  return { body: JSON.stringify(body), headers: { "x-mock-length-median": plan.headers["x-mock-length-median"], "x-mock-latency-ms": String(STEADY_MOCK_LATENCY_MS) } };
}

/** Paced open-loop traffic: loop l sends call k at l * PERIOD / LOOPS + k * PERIOD (or at once when its previous call ran late). */
async function steady({ door, key, durationMs, plans }) {
  const calls = [];
  const failures = {};
  const t0 = performance.now();
  const loop = async (l) => {
    for (let k = 0; k < plans[l].length; k++) {
      const due = (l * STEADY_PERIOD_MS) / STEADY_LOOPS + k * STEADY_PERIOD_MS;
      if (due >= durationMs) break;
      const wait = due - (performance.now() - t0);
      if (wait > 0) await sleep(wait);
      const { body, headers } = plans[l][k];
      const sent = performance.now();
      try {
        const response = await fetch(`${door.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
          body,
          signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
        });
        await response.text();
        const ms = performance.now() - sent;
        if (response.status !== 200) failures[response.status] = (failures[response.status] ?? 0) + 1;
        calls.push({ sentMs: sent - t0, ms, status: response.status, callId: response.headers.get("x-litellm-call-id") });
      } catch (error) {
        const name = error?.name === "TimeoutError" ? "timeout" : "fetch failed";
        failures[name] = (failures[name] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: STEADY_LOOPS }, (_, l) => loop(l)));
  return { calls, failures };
}

async function objectCalls(authority, key) {
  return api(authority.url, `/bench/object-calls?key=${encodeURIComponent(key)}`);
}

/** Waits until the key has no call in flight and no lease out (given back or expired), then its /key/info. */
async function quietInfo(authority, key) {
  let info = null;
  for (let attempt = 0; attempt < 100; attempt++) {
    ({ info } = await api(authority.url, `/key/info?key=${encodeURIComponent(key)}`));
    if (info.usage.in_flight === 0 && (info.usage.leased?.leases ?? 0) === 0) return { info, quiet: true };
    await sleep(100);
  }
  return { info, quiet: false };
}

/** Share of `answered` (200 answers with their x-litellm-call-id) that never reached the key's object. */
function localShare(answered, calls) {
  if (answered.length === 0) return Number.NaN;
  const atObject = new Set(calls.admitted);
  return answered.filter((call) => call.callId && !atObject.has(call.callId)).length / answered.length;
}

async function steadyRun(topology, { mode, durationMs, warmMs, plans }) {
  // Unmodelled: 60 object calls/s are a few percent of a real object's capacity, where its limit plays no part.
  const { key } = await api(topology.authority.url, "/key/generate", { ...STEADY_LIMITS, key_alias: `leases-unmodelled-steady-${mode}` });
  const loadBefore = loadavg()[0];
  const run = await steady({ door: topology.frontDoors[0], key, durationMs, plans });
  const loadAfter = loadavg()[0];
  const calls = await objectCalls(topology.authority, key);
  const { info, quiet } = await quietInfo(topology.authority, key);
  const ok = run.calls.filter((call) => call.status === 200);
  const measured = ok.filter((call) => call.sentMs >= warmMs);
  const latencies = measured.map((call) => call.ms);
  return {
    mode,
    sent: run.calls.length + Object.values(run.failures).reduce((sum, n) => sum + n, 0),
    answered: ok.length,
    measured: measured.length,
    rate: (measured.length / (durationMs - warmMs)) * 1000,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    local: localShare(measured, calls),
    localWhole: 1 - calls.admits / ok.length,
    calls,
    failures: run.failures,
    leased: info.usage.leased,
    quiet,
    load: [loadBefore, loadAfter],
  };
}

async function hotRun(topology, { mode, modelled, durationMs, warmMs }) {
  const alias = `leases-${modelled ? "" : "unmodelled-"}hot-${mode}`;
  const { key } = await api(topology.authority.url, "/key/generate", { ...HOT_LIMITS, key_alias: alias });
  const doors = topology.frontDoors;
  const answered = [];
  const statuses = {};
  const firsts = {};
  const loadBefore = loadavg()[0];
  const result = await runLoad({
    target: (index) => doors[index % doors.length].url + "/v1/chat/completions",
    key,
    body: chatBody(16),
    concurrency: HOT_CONCURRENCY,
    maxRequests: 1_000_000,
    maxMs: durationMs,
    onResponse: (response, text, _sentMs, receivedMs) => {
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      if (response.status !== 200) firsts[response.status] ??= text.replace(/\s+/g, " ").slice(0, 120);
      if (response.status === 200) answered.push({ receivedMs, callId: response.headers.get("x-litellm-call-id") });
    },
  });
  const loadAfter = loadavg()[0];
  const failed = result.sent - Object.values(statuses).reduce((sum, n) => sum + n, 0);
  if (failed > 0) statuses["fetch failed"] = failed;
  const calls = await objectCalls(topology.authority, key);
  const { quiet } = await quietInfo(topology.authority, key);
  const measured = answered.filter((call) => call.receivedMs >= warmMs && call.receivedMs <= durationMs);
  // Per second of the run: 200 answers, and the share of them admitted locally.
  const atObject = new Set(calls.admitted);
  const seconds = Array.from({ length: Math.ceil(durationMs / 1000) }, (_, second) => {
    const inSecond = answered.filter((call) => call.receivedMs >= second * 1000 && call.receivedMs < (second + 1) * 1000);
    return { answers: inSecond.length, local: inSecond.filter((call) => call.callId && !atObject.has(call.callId)).length };
  });
  return {
    mode,
    modelled,
    seconds,
    answered: answered.length,
    rate: (measured.length / (durationMs - warmMs)) * 1000,
    local: localShare(measured, calls),
    localWhole: 1 - calls.admits / answered.length,
    calls,
    statuses,
    firsts,
    quiet,
    load: [loadBefore, loadAfter],
  };
}

async function accuracyRun(topology, { mode, policy, tpm, windowMs, windows }) {
  let calls = null;
  const result = await measurePolicy(topology, {
    policy,
    tpm,
    doors: topology.frontDoors.slice(0, ACCURACY_DOORS),
    windowMs,
    windows,
    clients: ACCURACY_CLIENTS,
    alias: `leases-unmodelled-accuracy-${policy}-${mode}`,
    onKey: async (key) => {
      calls = await objectCalls(topology.authority, key);
    },
  });
  if (result.skipped) return { mode, ...result };
  const answered = result.run.calls;
  const measured = answered.filter((call) => call.sentMs >= windowMs);
  return { mode, ...result, calls, local: localShare(measured, calls), localWhole: localShare(answered, calls) };
}

const describeCalls = (calls) => `${calls.admits} / ${calls.finishes} / ${calls.leases}`;
/** What the object saw of leases, and how long calls waited for their turn there. */
const describeLeasing = (calls, fmt) =>
  `${calls.wants} lease asks, ${calls.grants} granted (on average ${calls.grants ? fmt(calls.lentTokens / calls.grants, 0) : 0} tokens and ` +
  `${calls.grants ? fmt(calls.lentRequests / calls.grants, 0) : 0} requests each, 0 where unlimited), ${calls.closed} given back ` +
  `with ${calls.closedCalls} calls (${calls.expired} after they had ended)${turnWaits(calls, fmt)}`;
/** How long calls waited for their turn at a modelled object (BENCH_OBJECT_SERVICE_MS); nothing for an unmodelled one. */
const turnWaits = (calls, fmt) =>
  calls.leaseWaits.length + calls.otherWaits.length === 0
    ? ""
    : `; turn wait at the object p50 / p99 / max: lease round trips ${waits(calls.leaseWaits, fmt)} ms, admit and finish calls ${waits(calls.otherWaits, fmt)} ms`;
const waits = (values, fmt) => (values.length ? `${fmt(percentile(values, 50), 0)} / ${fmt(percentile(values, 99), 0)} / ${fmt(values.reduce((a, b) => Math.max(a, b), 0), 0)}` : "- / - / -");
const pct = (value, fmt) => (Number.isFinite(value) ? `${fmt(value * 100, 1)}%` : "n/a");
const byStatus = (statuses) =>
  Object.entries(statuses)
    .map(([status, count]) => `${status}: ${count}`)
    .join(", ") || "none";

/**
 * Runs section 9 on topologies of its own (each stopped before the next starts) and writes it with `say`. The
 * caller has no topology running; none is left running after.
 */
export async function leases({ quick, say, fmt, verdict, master, windowS, section = 9, provenance = null }) {
  const windowMs = windowS * 1000;
  const steadyMs = quick ? 12_000 : 25_000;
  const steadyWarmMs = quick ? 3_000 : 5_000;
  const hotMs = quick ? 6_000 : 12_000;
  const hotWarmMs = 2_000;
  const windows = quick ? 3 : 4;
  const { tpm } = sizeKey(windowMs, ACCURACY_CLIENTS);
  // The same paced calls in every topology.
  const plans = Array.from({ length: STEADY_LOOPS }, (_, l) => Array.from({ length: Math.ceil(steadyMs / STEADY_PERIOD_MS) + 1 }, (_, k) => steadyCall(l, k)));

  // Steady and hot keys in production's windows; accuracy (and the hot key again) in the short windows of the
  // other sections, so that a run of a few windows stays short.
  const topologies = [
    { mode: "baseline", delayMs: 0, leases: "off", windowS: LATENCY_WINDOW_S, parts: ["steady"] },
    { mode: "off", delayMs: DISTANCE_MS, leases: "off", windowS: LATENCY_WINDOW_S, parts: ["steady", "hot", "hot-unmodelled"] },
    { mode: "on", delayMs: DISTANCE_MS, leases: "on", windowS: LATENCY_WINDOW_S, parts: ["steady", "hot", "hot-unmodelled"] },
    { mode: "off", delayMs: DISTANCE_MS, leases: "off", windowS, parts: ["hot", "accuracy"] },
    { mode: "on", delayMs: DISTANCE_MS, leases: "on", windowS, parts: ["hot", "accuracy"] },
  ];
  const results = { steady: {}, hot: {}, accuracy: {} };
  for (const topologySpec of topologies) {
    const { mode, delayMs, parts } = topologySpec;
    const started = Date.now();
    const vars = { MASTER_KEY: master, RATE_LIMIT_WINDOW_SECONDS: String(topologySpec.windowS), BENCH_OBJECT_DELAY_MS: String(delayMs), LEASES: topologySpec.leases };
    const topology = await startTopology(FRONT_DOORS, vars, { BENCH_OBJECT_SERVICE_MS: String(SERVICE_MS) });
    const label = `${mode}, ${topologySpec.windowS} s windows`;
    try {
      console.error(`  leases: ${label}: topology up after ${fmt((Date.now() - started) / 1000, 0)} s`);
      // wrangler dev reloads a runtime when the dev registry changes (front doors registering); let that settle.
      await sleep(10_000);
      if (parts.includes("steady")) {
        console.error(`  leases: ${label}: steady key`);
        const steadyResult = await steadyRun(topology, { mode, durationMs: steadyMs, warmMs: steadyWarmMs, plans });
        results.steady[mode] = steadyResult;
        console.error(`  leases: ${label}: steady p50 ${fmt(steadyResult.p50, 1)} p99 ${fmt(steadyResult.p99, 1)} ms, local ${pct(steadyResult.local, fmt)}, object ${describeCalls(steadyResult.calls)}, failures ${byStatus(steadyResult.failures)}`);
      }
      for (const modelled of [true, false]) {
        if (!parts.includes(modelled ? "hot" : "hot-unmodelled")) continue;
        await sleep(1_000);
        console.error(`  leases: ${label}: hot key (${modelled ? `object ${SERVICE_MS} ms per call` : "object unmodelled"})`);
        const hot = await hotRun(topology, { mode: `${mode}-${topologySpec.windowS}s`, modelled, durationMs: hotMs, warmMs: hotWarmMs });
        results.hot[`${topologySpec.windowS}-${mode}-${modelled}`] = hot;
        console.error(`  leases: ${label}: hot ${fmt(hot.rate, 0)}/s, local ${pct(hot.local, fmt)}, object ${describeCalls(hot.calls)}, ${byStatus(hot.statuses)}`);
      }
      if (!parts.includes("accuracy")) continue;
      for (const policy of ["adaptive", "strict"]) {
        await sleep(1_000);
        console.error(`  leases: ${label}: accuracy, ${policy}`);
        const accuracy = await accuracyRun(topology, { mode, policy, tpm, windowMs, windows });
        results.accuracy[`${mode}-${policy}`] = accuracy;
        if (!accuracy.skipped) {
          console.error(`  leases: ${label}: ${policy}: windows ${accuracy.stats.consecutive.map((ratio) => fmt(ratio)).join(" ")}, max sliding ${fmt(accuracy.stats.maxSliding)}, local ${pct(accuracy.local, fmt)}`);
        }
      }
    } finally {
      await stopTopology();
    }
  }
  report({ say, fmt, verdict, results, section, provenance, windowS, tpm, windows, steadyMs, steadyWarmMs, hotMs, hotWarmMs });
}

function report({ say, fmt, verdict, results, section, provenance, windowS, tpm, windows, steadyMs, steadyWarmMs, hotMs, hotWarmMs }) {
  const { steady: st, hot, accuracy } = results;
  say(`## ${section}. Leases at ${DISTANCE_MS} ms simulated distance`);
  say();
  if (provenance) {
    say(provenance);
    say();
  }
  say(`A front door that sees steady traffic for a key (>= LEASE_MIN_RATE calls/s) borrows a slice of the key's free capacity`);
  say(`for LEASE_MS and admits calls against it with no round trip to the key's Durable Object. Distance to the objects is`);
  say(`simulated: the bench-only \`BENCH_OBJECT_DELAY_MS\` (bench/worker/index.ts; not in the production bundle, which`);
  say(`test/e2e/bundle.e2e.mjs checks) makes every front-door-to-object call (key, team, deployment and end-user objects)`);
  say(`wait that long before it is made. Five topologies in this run, one after the other, each an authority and`);
  say(`${FRONT_DOORS} front doors: **baseline** (BENCH_OBJECT_DELAY_MS=0, LEASES=off), **off** (BENCH_OBJECT_DELAY_MS=${DISTANCE_MS}, LEASES=off) and`);
  say(`**on** (BENCH_OBJECT_DELAY_MS=${DISTANCE_MS}, LEASES=on; LEASE_MS, LEASE_MIN_RATE, LEASE_SHARE_PERCENT, LEASE_MIN_FREE_PERCENT and`);
  say(`LEASE_MARGIN_MS at their defaults: 2000 ms, 4 calls/s, 25%, 10%, 200 ms) with ${LATENCY_WINDOW_S} s windows (production's default) for the`);
  say(`steady and hot keys, then off and on again with ${windowS} s windows for TPM accuracy (short windows keep those runs`);
  say(`short) and the hot key once more: an owner caps a lease at a quarter of its window, ${fmt(windowS / 4, 1)} s there.`);
  say();
  say(`**The hot key's object capacity is modelled.** On Cloudflare one Durable Object serves about 1,000 calls/s; on this`);
  say(`2-core machine the ${FRONT_DOORS} front doors (and the load generator, the mock and the authority) saturate long before one`);
  say(`object does, so an unmodelled object never is the bottleneck that leases relieve. The bench-only`);
  say(`\`BENCH_OBJECT_SERVICE_MS=${SERVICE_MS}\` (authority only, bench/worker/objects.ts) makes the hot key's object serve its admit,`);
  say(`finish, withdraw, extend and lease calls one at a time, each holding the object ${SERVICE_MS} ms (a timer, so it takes no CPU from`);
  say(`the front doors): without leases every call costs the object an admit and a finish, so it admits at most`);
  say(`${fmt(1000 / (2 * SERVICE_MS), 0)} calls/s (the "off" row says how many it did). ${SERVICE_MS} ms, not 5: in an earlier run of this section at 5 ms the object did about`);
  say(`75 calls/s, while the ${FRONT_DOORS} front doors admitting every call locally did at most about 165-195/s on this machine (that`);
  say(`run's unmodelled "on" row), so 3x could not have shown even if leases took all the load. The "unmodelled" hot-key rows are the same load on a key whose`);
  say(`object is not slowed, for honesty, without a target. The steady and accuracy keys' objects are not slowed either:`);
  say(`their 30-60 calls/s are a few percent of a real object's capacity, where its limit plays no part. Calls reaching a`);
  say(`key's object are counted by the object itself (bench-only /bench/object-calls): "admitted locally" = 200 answers`);
  say(`whose x-litellm-call-id never reached the object's admit / 200 answers.`);
  say();

  // Steady key.
  const base = st.baseline;
  say(`**Steady key.** One key (tpm_limit ${STEADY_LIMITS.tpm_limit}, rpm_limit ${STEADY_LIMITS.rpm_limit} per window: never near its limits), ${STEADY_LOOPS} paced loops`);
  say(`through one front door, each sending a call every ${STEADY_PERIOD_MS} ms (${fmt((STEADY_LOOPS * 1000) / STEADY_PERIOD_MS, 0)} calls/s in all, staggered), for ${steadyMs / 1000} s; the same`);
  say(`seeded calls in every topology: gpt-4o-mini, prompts of 1-40 KB of prose and code (bench/utilization.mjs's`);
  say(`generator), max_tokens 4096, natural answer lengths (median 300), not streamed, x-mock-latency-ms ${STEADY_MOCK_LATENCY_MS}.`);
  say(`Latency = client send to the answer's last byte. Only calls sent after the first ${steadyWarmMs / 1000} s count. Added latency at a`);
  say(`percentile = that percentile of the run's latencies - the same percentile of the baseline's (${DISTANCE_MS} ms of distance`);
  say(`costs one admit trip per call without leases; settlement runs after the answer). Targets (on): p50 added <= 2 ms,`);
  say(`>= 90% of the calls admitted locally.`);
  say();
  say(`| run | calls measured (rate) | p50 / p99 latency (ms) | p50 added | p99 added | admitted locally (whole run: 1 - object admits / 200s) | object calls: admit / finish / lease | failures | targets |`);
  say(`|---|---|---|---|---|---|---|---|---|`);
  for (const mode of ["baseline", "off", "on"]) {
    const r = st[mode];
    if (!r) continue;
    const p50Added = r.p50 - base.p50;
    const p99Added = r.p99 - base.p99;
    const targets = mode === "on" ? `p50 added <= 2 ms: ${verdict(p50Added <= 2)}; local >= 90%: ${verdict(r.local >= 0.9)}` : "(comparison)";
    const label = mode === "baseline" ? "baseline (0 ms, leases off)" : `${DISTANCE_MS} ms, leases ${mode}`;
    say(
      `| ${label} | ${r.measured} (${fmt(r.rate, 1)}/s) | ${fmt(r.p50, 1)} / ${fmt(r.p99, 1)} | ${mode === "baseline" ? "-" : fmt(p50Added, 1)} | ${mode === "baseline" ? "-" : fmt(p99Added, 1)} | ` +
        `${pct(r.local, fmt)} (${pct(r.localWhole, fmt)}) | ${describeCalls(r.calls)} | ${byStatus(r.failures)} | ${targets} |`,
    );
  }
  say();
  for (const mode of ["baseline", "off", "on"]) {
    const r = st[mode];
    if (!r) continue;
    const label = mode === "baseline" ? "baseline" : `leases ${mode}`;
    say(`- ${label}: ${r.sent} calls sent, ${r.answered} answered 200; machine load average (1 min) ${fmt(r.load[0], 2)} before, ${fmt(r.load[1], 2)} after.` +
      (mode === "on" ? ` At the object: ${describeLeasing(r.calls, fmt)}. Once quiet, /key/info usage.leased = ${JSON.stringify(r.leased)}${r.quiet ? "" : " (**still not quiet after 10 s**)"}.` : ""));
  }
  say();

  // Hot key.
  say(`**Hot key.** One key (tpm_limit 1e12, rpm_limit 1e9: every check runs, none binds), ${HOT_CONCURRENCY} closed loops spread evenly`);
  say(`over the ${FRONT_DOORS} front doors for ${hotMs / 1000} s, the small chat call of section 1 (max_tokens 16, the mock answering at once).`);
  say(`Admissions/s = 200 answers received from ${hotWarmMs / 1000} s to the end / ${(hotMs - hotWarmMs) / 1000} s. Target (modelled object, on, in either`);
  say(`window length): >= ${HOT_TARGET_RATIO}x the rate with leases off (the single-object rate).`);
  say();
  say(`| windows | object | leases | admissions/s | x leases off | 200 answers | other answers | admitted locally (whole run) | object calls: admit / finish / lease | target |`);
  say(`|---|---|---|---|---|---|---|---|---|---|`);
  const hotRows = [];
  for (const [windowLength, modelled] of [[LATENCY_WINDOW_S, true], [LATENCY_WINDOW_S, false], [windowS, true]]) {
    for (const mode of ["off", "on"]) hotRows.push({ windowLength, modelled, mode, r: hot[`${windowLength}-${mode}-${modelled}`], off: hot[`${windowLength}-off-${modelled}`] });
  }
  for (const { windowLength, modelled, mode, r, off } of hotRows) {
    if (!r) continue;
    const ratio = off ? r.rate / off.rate : Number.NaN;
    const others = Object.fromEntries(Object.entries(r.statuses).filter(([status]) => status !== "200"));
    const target = modelled && mode === "on" ? `>= ${HOT_TARGET_RATIO}x: ${verdict(ratio >= HOT_TARGET_RATIO)}` : modelled ? "(single-object rate)" : "(no target)";
    say(
      `| ${windowLength} s | ${modelled ? `modelled, ${SERVICE_MS} ms per call` : "unmodelled"} | ${mode} | ${fmt(r.rate, 0)} | ${mode === "off" ? "1.00" : fmt(ratio, 2)} | ${r.answered} | ${byStatus(others)} | ` +
        `${pct(r.local, fmt)} (${pct(r.localWhole, fmt)}) | ${describeCalls(r.calls)} | ${target} |`,
    );
  }
  say();
  for (const { windowLength, modelled, mode, r } of hotRows) {
    if (!r) continue;
    say(`- ${windowLength} s windows, ${modelled ? "modelled" : "unmodelled"}, leases ${mode}: 200 answers per second of the run ${r.seconds.map((second) => second.answers).join(", ")}` +
      (mode === "on" ? `; of them admitted locally ${r.seconds.map((second) => second.local).join(", ")}. At the object: ${describeLeasing(r.calls, fmt)}` : "") +
      `. Load average ${fmt(r.load[0], 2)} before, ${fmt(r.load[1], 2)} after.` +
      Object.entries(r.firsts).map(([status, text]) => ` First ${status}: "${text}".`).join(""));
  }
  say();

  // Accuracy.
  say(`**TPM accuracy.** bench/utilization.mjs's realistic traffic and measurement (section 2) at ${DISTANCE_MS} ms distance with`);
  say(`${ACCURACY_CLIENTS} clients (instead of 16) over ${ACCURACY_DOORS} front doors, so that each front door sees more than LEASE_MIN_RATE admitted calls`);
  say(`a second: tpm_limit ${tpm} per ${windowS} s window (about half the demand), ${windows} windows per run, the first warm-up. Used`);
  say(`fraction = real usage.total_tokens of the 200 answers, by send time, per window / tpm_limit; max sliding = the`);
  say(`highest over windows sliding by ${windowS / 10} s. Targets, with leases as without: strict every window <= 1.00; adaptive median`);
  say(`>= 0.95 and every window <= 1.02. Leases are lent only while at least 10% of the limit is free, so under this`);
  say(`over-demand most calls go to the object: "admitted locally" says how many did not.`);
  say();
  say(`| policy | leases | used fraction per window: min / median / max | max sliding | target | calls completed (after warm-up) | 429s | admitted locally after warm-up (whole run) | other failures |`);
  say(`|---|---|---|---|---|---|---|---|---|`);
  for (const policy of ["adaptive", "strict"]) {
    for (const mode of ["off", "on"]) {
      const r = accuracy[`${mode}-${policy}`];
      if (!r) continue;
      if (r.skipped) {
        say(`| ${policy} | ${mode} | ${r.skipped} | | **missed** | | | | |`);
        continue;
      }
      const { stats, run } = r;
      const target = policy === "adaptive" ? `median >= 0.95, all <= 1.02: ${verdict(utilizationMet(policy, stats))}` : `all <= 1.00: ${verdict(utilizationMet(policy, stats))}`;
      const others = Object.entries(run.errors).map(([name, entry]) => (typeof entry === "number" ? `${name}: ${entry}` : `${entry.status} ${name}: ${entry.count}`)).join(", ") || "none";
      say(
        `| ${policy} | ${mode} | ${fmt(stats.min)} / ${fmt(stats.median)} / ${fmt(stats.max)} | ${fmt(stats.maxSliding)} | ${target} | ${run.calls.length} (${stats.measuredCalls}) | ` +
          `${run.refusals.length} (${stats.measuredRefusals}) | ${pct(r.local, fmt)} (${pct(r.localWhole, fmt)}) | ${others} |`,
      );
    }
  }
  say();
  for (const policy of ["adaptive", "strict"]) {
    for (const mode of ["off", "on"]) {
      const r = accuracy[`${mode}-${policy}`];
      if (!r || r.skipped) continue;
      const firsts = Object.entries(r.run.errors).filter(([, entry]) => typeof entry !== "number").map(([name, entry]) => `${name}: "${entry.first.replace(/\s+/g, " ").slice(0, 120)}"`);
      say(`- ${policy}, leases ${mode}: windows ${r.stats.consecutive.map((ratio) => fmt(ratio)).join(", ")}; object calls admit / finish / lease ${describeCalls(r.calls)}` +
        (mode === "on" ? `; ${describeLeasing(r.calls, fmt)}` : "") + `.${firsts.length ? ` First failures: ${firsts.join("; ")}.` : ""}`);
    }
  }
  say();
}
