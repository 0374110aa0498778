// The "queueing" scenario of `npm run bench`: calls that may wait for capacity (x-edgequota-max-wait-ms, or an
// owner's max_wait_ms) are admitted by their owner's Durable Object the moment they fit, and inside a team the
// waiting calls are admitted max-min fairly across keys.
//
// Part 1, one key with an rpm_limit: 32 closed-loop clients over 2 front doors, once without waiting (a refused
// client waits retry-after-ms and sends the same call again, as the SDKs do, a bounded number of times) and once
// with x-edgequota-max-wait-ms of 2 windows. With an rpm limit the instant each call could at the earliest have been
// admitted is computable exactly from the earlier admissions (src/limiter/window.ts): a call admitted at a is
// counted in the bucket stamped s = ceil(a / width) * width and leaves the window at s + windowMs, so with limit R
// the i-th admission (in admission order) can come no earlier than max(sent_i, s_{i-R} + windowMs). The admission
// instant is read from the client (send time + x-edgequota-queue-ms, as the issue defines it) and from the key's
// object.
//
// A probe of the wait bound itself: a call whose exact wait exceeds its bound, and a call that must queue behind
// another with a short bound.
//
// Part 2, a team of 4 keys with unequal demand (16, 8 and 4 closed-loop clients, and one key sending on a fixed
// schedule below its equal share), the team's limit the bottleneck (max_parallel_requests, then rpm_limit), the
// keys unlimited, every call waiting (the team's max_wait_ms): each key's share of the admitted calls against the
// max-min fair share.
//
// Exact instants come from the benchmark Worker's key and team objects (bench/worker/objects.ts), which log each
// admission as the object saw it; `QUEUEING_DUMP=/path/prefix` also writes the single-key runs' entries as JSON.
//
// The embedded mock answers after a few ms with a fixed number of tokens, so the limiter is the bottleneck.
// Every loop is bounded in time and in count; loopback only.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { api, chatBody } from "./load.mjs";

const FRONT_DOORS = 2;
const CLIENTS = 32;
/** The single key's limit: requests per window. */
const KEY_RPM = 60;
/** Windows of load per run; the first is start-up, the following ones are the steady windows measured. */
const WINDOWS = 3;
/** A no-wait client sends the same call at most this many times (the first attempt included), then gives up. */
const MAX_ATTEMPTS = 10;
/** The wait before retrying an answer that carries no retry hint. */
const FALLBACK_WAIT_MS = 250;
/** Mock answers: this fast and this long, so the limiter is the bottleneck (part 2's parallel run: see below). */
const MOCK_HEADERS = { "x-mock-latency-ms": "10", "x-mock-completion-tokens": "8" };
/** Part 2: clients per closed-loop key; key D sends on a schedule (its interval is set per run). */
const TEAM_KEYS = [
  { name: "A", clients: 16 },
  { name: "B", clients: 8 },
  { name: "C", clients: 4 },
  { name: "D", clients: 0 },
];
/** Part 2's parallel run: slots, the mock's latency (how long a slot is held), D's interval between sends. */
const TEAM_PARALLEL = 4;
const TEAM_PARALLEL_LATENCY_MS = 100;
const TEAM_PARALLEL_D_EVERY_MS = 500;
/**
 * Part 2's rpm run: requests per window (fewer than the clients, so every window's capacity frees in one clump
 * at its start) and a mock latency longer than that clump lasts, so each closed-loop client asks exactly once per
 * window: its demand is its number of clients. Key D sends this many calls per window, on a schedule.
 */
const TEAM_RPM = 24;
const TEAM_RPM_LATENCY_MS = 1000;
const TEAM_RPM_D_PER_WINDOW = 3;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Epoch milliseconds with a fraction: the same clock as the objects' Date.now(), finer. */
const clock = () => performance.timeOrigin + performance.now();

function quantile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function median(values) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const byCount = (counts) =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([name, count]) => `${name}: ${count}`)
    .join(", ") || "none";

/**
 * Sends one call and reads its answer. Returns { sentAt, doneAt, status, queueMs, retryAfterMs, code, message }
 * (epoch ms); a fetch failure or timeout comes back as status 0.
 */
async function send({ url, key, body, headers, timeoutMs }) {
  const sentAt = clock();
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-bench-timing": "1", ...headers },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    const doneAt = clock();
    const queueHeader = response.headers.get("x-edgequota-queue-ms");
    const callId = response.headers.get("x-litellm-call-id");
    const doorAt = response.headers.get("x-bench-arrived-at");
    const hint = response.headers.get("retry-after-ms") ?? (response.headers.get("retry-after") === null ? null : String(Number(response.headers.get("retry-after")) * 1000));
    let code = response.status === 200 ? null : `http_${response.status}`;
    let message = "";
    if (response.status !== 200) {
      try {
        const error = JSON.parse(text).error;
        code = error?.code ?? code;
        message = error?.message ?? "";
      } catch {
        message = text.slice(0, 200);
      }
    }
    return {
      sentAt,
      doneAt,
      callId,
      doorAt: doorAt === null ? null : Number(doorAt),
      status: response.status,
      queueMs: queueHeader === null ? null : Number(queueHeader),
      retryAfterMs: hint === null || !Number.isFinite(Number(hint)) ? null : Number(hint),
      shouldRetry: response.headers.get("x-should-retry"),
      code,
      message,
    };
  } catch (error) {
    const doneAt = clock();
    const code = error?.name === "TimeoutError" ? "timeout" : `fetch failed (${error?.cause?.code ?? error?.message ?? error})`;
    return { sentAt, doneAt, callId: null, doorAt: null, status: 0, queueMs: null, retryAfterMs: null, shouldRetry: null, code, message: String(error?.message ?? error) };
  }
}

/** The admission instant as the client can tell it: send time plus the time the gateway says the call waited. */
const admittedAt = (answer) => answer.sentAt + (answer.queueMs ?? 0);

/**
 * Closed loops: `clients` clients (client c on door c % doors), each sending calls until `durationMs` has passed.
 * `maxWaitMs` null: no wait header; a 429 is retried after its hint (capped at one window) up to MAX_ATTEMPTS.
 * Returns every answer, and per call whether it completed or was given up.
 */
async function closedLoops({ doors, key, clients, durationMs, windowMs, maxWaitMs, headers = MOCK_HEADERS, label }) {
  const answers = [];
  let completed = 0;
  let givenUp = 0;
  let cutOff = 0;
  const start = clock();
  const body = chatBody(16);
  const sendHeaders = { ...headers, ...(maxWaitMs === null ? {} : { "x-edgequota-max-wait-ms": String(maxWaitMs) }) };
  const client = async (c) => {
    const url = doors[c % doors.length].url + "/v1/chat/completions";
    let calls = 0;
    while (clock() - start < durationMs && calls < 100_000) {
      calls++;
      let firstSentAt = null;
      for (let attempt = 1; ; attempt++) {
        const answer = await send({ url, key, body, headers: sendHeaders, timeoutMs: (maxWaitMs ?? 0) + 30_000 });
        firstSentAt ??= answer.sentAt;
        answer.firstSentAt = firstSentAt;
        answer.label = label;
        answer.client = c;
        answers.push(answer);
        if (answer.status === 200) {
          completed++;
          break;
        }
        const retryable = (answer.status === 429 || answer.status >= 500 || answer.status === 0) && answer.shouldRetry !== "false";
        if (!retryable || attempt >= MAX_ATTEMPTS) {
          givenUp++;
          break;
        }
        if (clock() - start >= durationMs) {
          // The run is over: the call is dropped, not given up by the client.
          cutOff++;
          break;
        }
        const hinted = answer.retryAfterMs ?? FALLBACK_WAIT_MS;
        await sleep(Math.min(Math.max(0, hinted), windowMs, Math.max(0, durationMs - (clock() - start))));
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  return { answers, completed, givenUp, cutOff, start, end: clock() };
}

/** A key's or a team's admissions as its object saw them (bench/worker/objects.ts), or null if unavailable. */
async function admissionLog(authority, query) {
  try {
    const { admissions } = await api(authority.url, `/bench/admission-log?${query}`);
    return admissions;
  } catch (error) {
    console.error(`  queueing: no admission log (${String(error?.message ?? error).slice(0, 200)}); client-side instants only`);
    return null;
  }
}

/** Admitted calls per window [t0 + k W, t0 + (k + 1) W), k = 1 .. windows - 1 (window 0 is start-up), over `limit`. */
function usedFractions(instants, t0, windowMs, limit, windows) {
  const fractions = [];
  for (let k = 1; k < windows; k++) {
    const from = t0 + k * windowMs;
    fractions.push(instants.filter((at) => at >= from && at < from + windowMs).length / limit);
  }
  return fractions;
}

/**
 * Admission order and instants → for each admission, actual − the earliest instant the limit allowed it:
 * max(ready_i, s_{i-R} + windowMs), s the bucket stamp of the admission R before. `entries` are in admission
 * order: { at, ready, bucket }.
 */
function lagsOf(entries, limit, windowMs) {
  return entries.map((entry, i) => entry.at - (i >= limit ? Math.max(entry.ready, entries[i - limit].bucket + windowMs) : entry.ready));
}

function stats(values) {
  return { p50: quantile(values, 0.5), p99: quantile(values, 0.99), max: values.length ? Math.max(...values) : Number.NaN, min: values.length ? Math.min(...values) : Number.NaN, n: values.length };
}

async function singleKey({ authority, doors, windowMs, durationMs, maxWaitMs }) {
  const secret = (await api(authority.url, "/key/generate", { rpm_limit: KEY_RPM, key_alias: `queueing-${maxWaitMs === null ? "no-wait" : "wait"}` })).key;
  const run = await closedLoops({ doors, key: secret, clients: CLIENTS, durationMs, windowMs, maxWaitMs, label: "single" });
  const width = Math.max(1, Math.ceil(windowMs / 600));
  const ok = run.answers.filter((answer) => answer.status === 200);
  const refusals = {};
  const failures = {};
  for (const answer of run.answers) {
    if (answer.status === 200) continue;
    const name = answer.status === 429 ? answer.code : `${answer.status} ${answer.code}`;
    const counts = answer.status === 429 ? refusals : failures;
    counts[name] = (counts[name] ?? 0) + 1;
  }
  const refused = run.answers.filter((answer) => answer.status === 429);
  const waited = ok.filter((answer) => (answer.queueMs ?? 0) > 0);

  // Client side, as a client can tell: admitted at send time + x-edgequota-queue-ms.
  const byClient = [...ok].sort((a, b) => admittedAt(a) - admittedAt(b));
  const clientEntries = byClient.map((answer) => ({ at: admittedAt(answer), ready: answer.firstSentAt ?? answer.sentAt, bucket: Math.ceil(admittedAt(answer) / width) * width, waited: (answer.queueMs ?? 0) > 0 }));
  const clientLags = lagsOf(clientEntries, KEY_RPM, windowMs);
  const clientT0 = clientEntries.length ? clientEntries[0].at : 0;

  // Object side: the key's own instants (arrival at the object, admission, bucket), in its admission order.
  const log = await admissionLog(authority, `key=${encodeURIComponent(secret)}`);
  let object = null;
  if (log) {
    const answered = new Map(ok.map((answer) => [answer.callId, answer]));
    const entries = [...log].sort((a, b) => a.admittedAt - b.admittedAt).map((entry) => ({ at: entry.admittedAt, ready: entry.arrivedAt, bucket: entry.bucket, waited: entry.admittedAt > entry.arrivedAt, answer: answered.get(entry.requestId) }));
    const lags = lagsOf(entries, KEY_RPM, windowMs);
    const waitedLags = lags.filter((_, i) => entries[i].waited);
    // How far the client's instant (send + queue-ms) is from the object's: the trip to the object, and rounding.
    const matched = entries.filter((entry) => entry.answer);
    const offsets = matched.map((entry) => entry.at - admittedAt(entry.answer));
    // Split at the front door: client → Worker (wrangler's local proxy included), Worker → key object.
    const timed = matched.filter((entry) => entry.answer.doorAt !== null);
    const toDoor = timed.map((entry) => entry.answer.doorAt - entry.answer.sentAt);
    const toObject = timed.map((entry) => entry.ready - entry.answer.doorAt);
    if (process.env.QUEUEING_DUMP) {
      writeFileSync(`${process.env.QUEUEING_DUMP}-${maxWaitMs === null ? "no-wait" : "wait"}.json`, JSON.stringify({ windowMs, limit: KEY_RPM, entries: entries.map(({ answer, ...entry }, i) => ({ ...entry, lag: lags[i], sentAt: answer?.sentAt, doorAt: answer?.doorAt, doneAt: answer?.doneAt, queueMs: answer?.queueMs })) }));
    }
    object = {
      admissions: entries.length,
      unmatched: entries.filter((entry) => !entry.answer).length,
      fractions: usedFractions(entries.map((entry) => entry.at), entries[0]?.at ?? 0, windowMs, KEY_RPM, WINDOWS),
      lag: stats(lags),
      waitedLag: stats(waitedLags),
      early: lags.filter((lag) => lag < 0).length,
      offset: stats(offsets),
      toDoor: stats(toDoor),
      toObject: stats(toObject),
      lateWaited: lags.filter((lag, i) => lag > 20 && entries[i].waited).length,
      lateDirect: lags.filter((lag, i) => lag > 20 && !entries[i].waited).length,
    };
  }
  return {
    secret,
    completed: run.completed,
    givenUp: run.givenUp,
    cutOff: run.cutOff,
    admitted: ok.length,
    refusals,
    refusalCount: refused.length,
    failures,
    waited: waited.length,
    queueP50: median(waited.map((answer) => answer.queueMs)),
    queueMax: Math.max(0, ...waited.map((answer) => answer.queueMs)),
    fractions: usedFractions(clientEntries.map((entry) => entry.at), clientT0, windowMs, KEY_RPM, WINDOWS),
    lag: stats(clientLags),
    waitedLag: stats(clientLags.filter((_, i) => clientEntries[i].waited)),
    early: clientLags.filter((lag) => lag < -20).length,
    refusedAfter: stats(refused.map((answer) => answer.doneAt - answer.sentAt)),
    firstRefusal: refused[0] ? `${refused[0].code}: ${refused[0].message.slice(0, 200)}` : null,
    object,
  };
}

/** Max-min fair shares of `total` among demands (Infinity = backlogged): water-filling. */
function maxMinShares(demands, total) {
  const shares = demands.map(() => 0);
  let left = total;
  let open = demands.map((_, index) => index);
  while (open.length > 0 && left > 1e-9) {
    const equal = left / open.length;
    const small = open.filter((index) => demands[index] - shares[index] <= equal);
    if (small.length === 0) {
      for (const index of open) shares[index] += equal;
      break;
    }
    for (const index of small) {
      left -= demands[index] - shares[index];
      shares[index] = demands[index];
    }
    open = open.filter((index) => !small.includes(index));
  }
  return shares;
}

/**
 * One team run: every key of TEAM_KEYS in the same team, the team's `limits` the bottleneck and max_wait_ms set
 * there. Closed-loop keys send as fast as they are answered; key D sends every `everyMs` (open loop).
 */
async function teamRun({ authority, doors, durationMs, limits, maxWaitMs, headers, everyMs, name }) {
  const { team_id: teamId } = await api(authority.url, "/team/new", { team_alias: `queueing-${name}`, max_wait_ms: maxWaitMs, ...limits });
  const keys = [];
  for (const spec of TEAM_KEYS) {
    const { key } = await api(authority.url, "/key/generate", { team_id: teamId, key_alias: `queueing-${name}-${spec.name}` });
    keys.push({ ...spec, everyMs: spec.clients === 0 ? everyMs : null, key, share: createHash("sha256").update(key).digest("hex"), answers: [], sent: 0 });
  }
  const start = clock();
  const body = chatBody(16);
  const timeoutMs = maxWaitMs + 30_000;
  const loops = [];
  let door = 0;
  for (const entry of keys) {
    for (let c = 0; c < entry.clients; c++) {
      const url = doors[door++ % doors.length].url + "/v1/chat/completions";
      loops.push(
        (async () => {
          let calls = 0;
          while (clock() - start < durationMs && calls++ < 100_000) {
            entry.sent++;
            const answer = await send({ url, key: entry.key, body, headers, timeoutMs });
            entry.answers.push(answer);
            if (answer.status !== 200) await sleep(FALLBACK_WAIT_MS);
          }
        })(),
      );
    }
    if (entry.everyMs) {
      const url = doors[door++ % doors.length].url + "/v1/chat/completions";
      loops.push(
        (async () => {
          const pending = [];
          for (let k = 0; k * entry.everyMs < durationMs && k < 100_000; k++) {
            const due = start + k * entry.everyMs;
            if (due > clock()) await sleep(due - clock());
            entry.sent++;
            pending.push(send({ url, key: entry.key, body, headers, timeoutMs }).then((answer) => entry.answers.push(answer)));
          }
          await Promise.all(pending);
        })(),
      );
    }
  }
  await Promise.all(loops);
  const end = clock();
  const log = await admissionLog(authority, `team=${encodeURIComponent(teamId)}`);
  return { keys, start, end, teamId, log };
}

/**
 * Each key's admissions in [from, to) against its max-min fair share of them. `demandOf(entry)` is what the key
 * asks for over the interval (Infinity: backlogged). Admission instants from the team's object when it reported
 * them, else from the client (send + queue-ms).
 */
function teamShares(run, { from, to, demandOf }) {
  const instants = run.keys.map((entry) =>
    run.log
      ? run.log.filter((admission) => admission.share === entry.share).map((admission) => admission.admittedAt)
      : entry.answers.filter((answer) => answer.status === 200).map(admittedAt),
  );
  const counts = instants.map((list) => list.filter((at) => at >= from && at < to).length);
  const total = counts.reduce((sum, count) => sum + count, 0);
  const demands = run.keys.map(demandOf);
  const fair = maxMinShares(demands, total);
  const deviations = counts.map((count, index) => (fair[index] > 0 ? Math.abs(count - fair[index]) / fair[index] : 0));
  const failures = {};
  for (const entry of run.keys) {
    for (const answer of entry.answers) {
      if (answer.status === 200) continue;
      const name = `${answer.status} ${answer.code}`;
      failures[name] = (failures[name] ?? 0) + 1;
    }
  }
  const queueMs = run.keys.map((entry) => median(entry.answers.filter((answer) => answer.status === 200).map((answer) => answer.queueMs ?? 0)));
  return { instants, counts, total, demands, fair, deviations, failures, queueMs, maxDeviation: Math.max(...deviations), source: run.log ? "object" : "client" };
}

/** CPU time (ms) used so far by a process group (the authority: wrangler and its workerd), or null off Linux. */
function groupCpuMs(pgid) {
  if (!pgid) return null;
  try {
    let ticks = 0;
    for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
      let stat;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      } catch {
        continue; // gone meanwhile
      }
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // After "pid (comm) ": state ppid pgrp ... utime (14th field overall) stime (15th).
      if (Number(fields[2]) === pgid) ticks += Number(fields[11]) + Number(fields[12]);
    }
    return ticks * 10; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/**
 * The wait bound, probed on one key (tpm_limit 1000, strict, so reservations are exact): a window filled by one
 * call, then (1) a call alone whose exact wait exceeds its 1 s bound, (2) a big call X that may wait 2 windows, and
 * 0.3 s later (3) a small call Y that would fit but must queue behind X, with a 1 s bound. Y must be answered
 * within its bound. Also the authority's CPU while Y's bound runs out behind X, against the same time idle.
 */
async function boundProbe({ authority, door, windowMs }) {
  const { key } = await api(authority.url, "/key/generate", { tpm_limit: 1000, reservation_policy: "strict", key_alias: "queueing-bound" });
  const url = door.url + "/v1/chat/completions";
  const probe = (maxTokens, maxWaitMs) =>
    send({
      url,
      key,
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Benchmark me, exactly." }], max_tokens: maxTokens }),
      headers: { ...MOCK_HEADERS, "x-mock-completion-tokens": String(maxTokens), ...(maxWaitMs === null ? {} : { "x-edgequota-max-wait-ms": String(maxWaitMs) }) },
      timeoutMs: 2 * windowMs + 30_000,
    }).then((answer) => ({ ...answer, ms: answer.doneAt - answer.sentAt }));
  const spanMs = Math.min(3_000, windowMs / 2);
  const idleBefore = groupCpuMs(authority.pid);
  await sleep(spanMs);
  const idleAfter = groupCpuMs(authority.pid);
  const fill = await probe(800, null);
  const alone = await probe(500, 1_000);
  const x = probe(500, 2 * windowMs);
  await sleep(300);
  const ySent = clock();
  const y = probe(50, 1_000);
  // From just after Y's bound ran out, for spanMs (still before X fits, about a window after the fill).
  await sleep(Math.max(0, ySent + 1_200 - clock()));
  const busyBefore = groupCpuMs(authority.pid);
  await sleep(spanMs);
  const busyAfter = groupCpuMs(authority.pid);
  const [xAnswer, yAnswer] = await Promise.all([x, y]);
  const cpu = idleBefore === null || busyBefore === null ? null : { idle: idleAfter - idleBefore, waiting: busyAfter - busyBefore, spanMs };
  return { fill, alone, x: xAnswer, y: yAnswer, cpu };
}

/**
 * Runs the scenario against `topology` (an authority and at least 2 front doors, started with
 * RATE_LIMIT_WINDOW_SECONDS = windowS) and writes its section with `say`.
 */
export async function queueing(topology, { quick, say, fmt, verdict, windowS, section = 8, provenance = null }) {
  const windowMs = windowS * 1000;
  const doors = topology.frontDoors.slice(0, FRONT_DOORS);
  if (doors.length < FRONT_DOORS) throw new Error(`queueing needs ${FRONT_DOORS} front doors, got ${doors.length}`);
  const authority = topology.authority;
  // Sending stops half a window after the last steady window ends, so every measured window had demand throughout.
  const durationMs = (WINDOWS + 0.5) * windowMs;
  const width = Math.max(1, Math.ceil(windowMs / 600));

  console.error(`  queueing: one key, no wait`);
  const noWait = await singleKey({ authority, doors, windowMs, durationMs, maxWaitMs: null });
  console.error(`  queueing: one key, no wait: ${noWait.completed} completed, ${noWait.refusalCount} 429s, windows ${noWait.fractions.map((f) => fmt(f)).join(" ")}`);
  await sleep(2_000);
  console.error(`  queueing: one key, waiting`);
  const wait = await singleKey({ authority, doors, windowMs, durationMs, maxWaitMs: 2 * windowMs });
  console.error(
    `  queueing: one key, waiting: ${wait.completed} completed, ${wait.refusalCount} 429s, windows ${wait.fractions.map((f) => fmt(f)).join(" ")}, ` +
      `client lag p50 ${fmt(wait.lag.p50, 1)} p99 ${fmt(wait.lag.p99, 1)} ms` +
      (wait.object ? `; object windows ${wait.object.fractions.map((f) => fmt(f)).join(" ")}, lag p50 ${fmt(wait.object.lag.p50, 1)} p99 ${fmt(wait.object.lag.p99, 1)} max ${fmt(wait.object.lag.max, 1)} ms, ${wait.object.early} early` : ""),
  );

  console.error(`  queueing: wait bound probe`);
  const bound = await boundProbe({ authority, door: doors[0], windowMs });
  console.error(`  queueing: bound: alone ${bound.alone.status} in ${fmt(bound.alone.ms, 0)} ms; behind a waiter ${bound.y.status} in ${fmt(bound.y.ms, 0)} ms (queue-ms ${bound.y.queueMs}); cpu ${JSON.stringify(bound.cpu)}`);

  const teamDuration = quick ? 8_000 : 20_000;
  const teamWarm = 1_000;
  console.error(`  queueing: team, max_parallel_requests ${TEAM_PARALLEL}`);
  const parallelRun = await teamRun({
    authority,
    doors,
    durationMs: teamDuration,
    limits: { max_parallel_requests: TEAM_PARALLEL },
    maxWaitMs: 2 * windowMs,
    headers: { ...MOCK_HEADERS, "x-mock-latency-ms": String(TEAM_PARALLEL_LATENCY_MS) },
    everyMs: TEAM_PARALLEL_D_EVERY_MS,
    name: "parallel",
  });
  const parallelFrom = parallelRun.start + teamWarm;
  const parallelTo = parallelRun.start + teamDuration;
  const parallel = teamShares(parallelRun, {
    from: parallelFrom,
    to: parallelTo,
    demandOf: (entry) => (entry.everyMs ? (parallelTo - parallelFrom) / entry.everyMs : Number.POSITIVE_INFINITY),
  });
  console.error(`  queueing: team parallel: ${parallel.counts.join(" / ")} admitted, fair ${parallel.fair.map((f) => fmt(f, 1)).join(" / ")}, max deviation ${fmt(parallel.maxDeviation)}`);

  const rpmWindows = quick ? 6 : 5;
  const rpmDuration = (rpmWindows + 0.5) * windowMs;
  console.error(`  queueing: team, rpm_limit ${TEAM_RPM}`);
  const rpmRun = await teamRun({
    authority,
    doors,
    durationMs: rpmDuration,
    limits: { rpm_limit: TEAM_RPM },
    // A's 16 clients share about 9 admissions a window: each may wait about 2 windows.
    maxWaitMs: 4 * windowMs,
    headers: { ...MOCK_HEADERS, "x-mock-latency-ms": String(TEAM_RPM_LATENCY_MS) },
    everyMs: Math.floor(windowMs / TEAM_RPM_D_PER_WINDOW),
    name: "rpm",
  });
  const rpmAll = rpmRun.log ? rpmRun.log.map((admission) => admission.admittedAt) : rpmRun.keys.flatMap((entry) => entry.answers.filter((answer) => answer.status === 200).map(admittedAt));
  const rpmT0 = Math.min(...rpmAll);
  const steady = rpmWindows - 1;
  const rpm = teamShares(rpmRun, {
    from: rpmT0 + windowMs,
    to: rpmT0 + rpmWindows * windowMs,
    // One call per client per window (the mock's latency outlasts the window's clump); D its scheduled calls.
    demandOf: (entry) => steady * (entry.everyMs ? windowMs / entry.everyMs : entry.clients),
  });
  // How long each steady window's admissions took from first to last, and the most one key got in one window.
  const clumps = [];
  for (let k = 1; k < rpmWindows; k++) {
    const inWindow = rpmAll.filter((at) => at >= rpmT0 + k * windowMs && at < rpmT0 + (k + 1) * windowMs);
    if (inWindow.length) clumps.push(Math.max(...inWindow) - Math.min(...inWindow));
  }
  const perWindowMax = rpmRun.keys.map((_, index) => {
    let most = 0;
    for (let k = 1; k < rpmWindows; k++) most = Math.max(most, rpm.instants[index].filter((at) => at >= rpmT0 + k * windowMs && at < rpmT0 + (k + 1) * windowMs).length);
    return most;
  });
  console.error(`  queueing: team rpm: ${rpm.counts.join(" / ")} admitted, fair ${rpm.fair.map((f) => fmt(f, 1)).join(" / ")}, max deviation ${fmt(rpm.maxDeviation)}, clumps ${clumps.map((ms) => fmt(ms, 0)).join(" ")} ms`);

  // ---------------------------------------------------------------------------------------------------------
  say(`## ${section}. Queueing`);
  say();
  if (provenance) {
    say(provenance);
    say();
  }
  say(`Calls that may wait for capacity (\`x-edgequota-max-wait-ms\`, or an owner's \`max_wait_ms\`) wait at their owner's`);
  say(`Durable Object and are admitted the moment they fit; their answers carry \`x-edgequota-queue-ms\`. ${windowS} s windows`);
  say(`(bucket width ${width} ms); the mock answers with ${MOCK_HEADERS["x-mock-completion-tokens"]} tokens after ${MOCK_HEADERS["x-mock-latency-ms"]} ms (unless said otherwise), so the limiter is the bottleneck.`);
  say(`Exact instants come from the benchmark Worker's key and team objects (bench/worker/objects.ts logs each`);
  say(`admission's arrival at the object, admission instant and bucket from the product's own reservation).`);
  say();
  say(`**One key.** rpm_limit ${KEY_RPM}, ${CLIENTS} closed-loop clients over ${FRONT_DOORS} front doors for ${WINDOWS + 0.5} windows (${fmt(durationMs / 1000, 0)} s), run twice:`);
  say(`"no wait": a refused client waits retry-after-ms (at most one window) and sends the same call again, at most`);
  say(`${MAX_ATTEMPTS} times; "wait": every call sends \`x-edgequota-max-wait-ms: ${2 * windowMs}\` (2 windows).`);
  say(`- Used fraction = admissions per window / rpm_limit over windows 1..${WINDOWS - 1}, aligned at the first admission (window 0`);
  say(`  is start-up). The target is judged on the object's instants: the client's are early by the trip to the object,`);
  say(`  which moves admissions across window edges.`);
  say(`- "Admission - exact" = the admission instant - the earliest instant the limit allowed it, max(ready_i, s_{i-R} +`);
  say(`  window) in admission order, s = ceil(a / ${width}) * ${width} the bucket stamp of the admission R before. Client side (as the`);
  say(`  issue defines it): a = send time + x-edgequota-queue-ms, ready = the call's first send (a no-wait call's retries`);
  say(`  count against it). Object side: a, s and ready (the admitted attempt's arrival at the key's object) as the key's`);
  say(`  object saw them: the limiter's own precision.`);
  say(`- Targets (wait): no 429 within the bound, used fraction >= 0.98, p99 of admission - exact <= 50 ms.`);
  say();
  say(`| run | calls completed | 429s (by code) | other failures | waited: calls (p50 / max queue-ms) | used fraction per steady window: client / object | admission - exact, client: p50 / p99 / max (ms) | admission - exact, object: p50 / p99 / max (ms) | targets |`);
  say(`|---|---|---|---|---|---|---|---|---|`);
  for (const [name, result] of [["no wait", noWait], ["wait", wait]]) {
    const object = result.object;
    // Judged on the object's instants where there are any: the client's are early by the trip to the object (up to
    // hundreds of ms here), which moves whole clumps of admissions across window edges.
    const usedOk = Math.min(...(object ? object.fractions : result.fractions)) >= 0.98;
    const targets =
      name === "wait"
        ? `no 429: ${verdict(result.refusalCount === 0)}; used >= 0.98 (${object ? "object" : "client"}): ${verdict(usedOk)}; p99 <= 50 ms: client ${verdict(result.lag.p99 <= 50)}, object ${object ? verdict(object.lag.p99 <= 50) : "n/a"}`
        : "(baseline)";
    const waited = result.waited > 0 ? `${result.waited} (${fmt(result.queueP50, 0)} / ${fmt(result.queueMax, 0)})` : "0";
    say(
      `| ${name} | ${result.completed}${result.givenUp ? ` (${result.givenUp} given up after ${MAX_ATTEMPTS} attempts)` : ""}${result.cutOff ? ` (${result.cutOff} refused when the run ended)` : ""} | ${result.refusalCount}${result.refusalCount ? ` (${byCount(result.refusals)})` : ""} | ${byCount(result.failures)} | ${waited} | ` +
        `${result.fractions.map((f) => fmt(f)).join(", ")} / ${object ? object.fractions.map((f) => fmt(f)).join(", ") : "n/a"} | ` +
        `${fmt(result.lag.p50, 1)} / ${fmt(result.lag.p99, 1)} / ${fmt(result.lag.max, 1)} | ${object ? `${fmt(object.lag.p50, 1)} / ${fmt(object.lag.p99, 1)} / ${fmt(object.lag.max, 1)}` : "n/a"} | ${targets} |`,
    );
  }
  say();
  for (const [name, result] of [["wait", wait], ["no wait", noWait]]) {
    const object = result.object;
    say(
      `- ${name}: ${result.admitted} admissions, ${result.waited} after waiting` +
        (result.waited ? `; over those, admission - exact p50 / p99 client ${fmt(result.waitedLag.p50, 1)} / ${fmt(result.waitedLag.p99, 1)} ms` + (object ? `, object ${fmt(object.waitedLag.p50, 1)} / ${fmt(object.waitedLag.p99, 1)} ms` : "") : "") +
        `. ${result.refusalCount} 429s${result.refusalCount ? ` (answered after p50 ${fmt(result.refusedAfter.p50, 0)} ms; first: "${result.firstRefusal}")` : ""}.`,
    );
    if (object) {
      say(
        `  Object side: ${object.admissions} admissions logged (${object.unmatched} without a 200 answer), ${object.early} before the exact instant` +
          ` (min ${fmt(object.lag.min, 1)} ms; any would be over-admission). The client's instant (send + queue-ms) is earlier than the object's by` +
          ` p50 / p99 / max ${fmt(object.offset.p50, 1)} / ${fmt(object.offset.p99, 1)} / ${fmt(object.offset.max, 1)} ms: the trip from client to object (client to Worker p50 / p99` +
          ` ${fmt(object.toDoor.p50, 0)} / ${fmt(object.toDoor.p99, 0)} ms, Worker to key object ${fmt(object.toObject.p50, 0)} / ${fmt(object.toObject.p99, 0)} ms), and queue-ms rounding.` +
          ` Admissions more than 20 ms after the exact instant: ${object.lateWaited} that had waited, ${object.lateDirect} admitted on arrival.`,
      );
    }
  }
  say();

  const describe = (answer) => `${answer.status}${answer.code ? ` ${answer.code}` : ""} after ${fmt(answer.ms, 0)} ms${answer.queueMs ? `, x-edgequota-queue-ms ${answer.queueMs}` : ""}`;
  const aloneOk = bound.alone.status === 429 && bound.alone.ms <= 200;
  const behindOk = bound.y.ms <= 1_000 + 200;
  say(`**The wait bound.** One key, tpm_limit 1000 (strict reservations), its window filled by one call of 800 tokens. A call`);
  say(`of 500 whose exact wait (about a window) exceeds its \`x-edgequota-max-wait-ms: 1000\`: ${describe(bound.alone)}`);
  say(`(refused at once: ${verdict(aloneOk)}). Then a call X of 500 that may wait 2 windows (${describe(bound.x)}) and, 0.3 s later,`);
  say(`a call Y of 50 tokens that fits but must queue behind X, with \`x-edgequota-max-wait-ms: 1000\`: ${describe(bound.y)}`);
  say(`(answered within its bound: ${verdict(behindOk)}).` +
    (bound.cpu ? ` Authority CPU (wrangler and workerd) over ${fmt(bound.cpu.spanMs / 1000, 0)} s after Y's bound ran out, X still waiting:` +
      ` ${fmt(bound.cpu.waiting, 0)} ms, against ${fmt(bound.cpu.idle, 0)} ms over the same time idle before the probe.` : ""));
  say();

  const keyLabel = (entry) => (entry.everyMs ? `${entry.name} (1 call every ${entry.everyMs} ms)` : `${entry.name} (${entry.clients} clients)`);
  say(`**A team of 4 keys.** Unlimited keys in a team whose limit is the bottleneck and whose max_wait_ms makes every call`);
  say(`wait there. Keys A, B and C run 16, 8 and 4 closed-loop clients; key D sends on a fixed schedule (open loop).`);
  say(`Max-min fair share of the admitted calls (water-filling): a key asking for less than an equal share gets what it`);
  say(`asks, the others split the rest equally (first come first served would instead share by calls waiting, 16:8:4).`);
  say(`Admissions counted by the team object's admission instants.`);
  say(`- "parallel": max_parallel_requests ${TEAM_PARALLEL}, mock latency ${TEAM_PARALLEL_LATENCY_MS} ms, max_wait_ms ${2 * windowMs}, ${fmt(teamDuration / 1000, 0)} s, counted from ${fmt(teamWarm / 1000, 0)} s to the end.`);
  say(`  A, B and C always have calls waiting (backlogged); D asks for one call per ${TEAM_PARALLEL_D_EVERY_MS} ms.`);
  say(`- "rpm": rpm_limit ${TEAM_RPM}, mock latency ${TEAM_RPM_LATENCY_MS} ms, max_wait_ms ${4 * windowMs}, ${rpmWindows + 0.5} windows, counted over windows 1..${steady} from the first`);
  say(`  admission. Each window's capacity frees in one clump at its start (p50 / max ${fmt(median(clumps), 0)} / ${fmt(Math.max(...clumps), 0)} ms from its first to its last`);
  say(`  admission), shorter than a call, so each closed-loop client asks once per window (its demand = its clients;`);
  say(`  most admitted to one key in one window: ${rpmRun.keys.map((entry, index) => `${entry.name} ${perWindowMax[index]}`).join(", ")}) and D asks for ${TEAM_RPM_D_PER_WINDOW} per window.`);
  say(`Target: every key within 10% of its max-min fair share.`);
  say();
  say(`| team bottleneck | key | admitted | share | max-min fair share (calls) | deviation | first come first served (est.) | median queue-ms | target |`);
  say(`|---|---|---|---|---|---|---|---|---|`);
  for (const [name, run, result] of [[`max_parallel_requests ${TEAM_PARALLEL}`, parallelRun, parallel], [`rpm_limit ${TEAM_RPM}`, rpmRun, rpm]]) {
    // First come first served, roughly: D still gets what it asks, the closed-loop keys split the rest by clients.
    const paced = run.keys.reduce((sum, entry, index) => sum + (entry.everyMs ? Math.min(result.demands[index], result.total) : 0), 0);
    const clients = run.keys.reduce((sum, entry) => sum + entry.clients, 0);
    const fcfs = run.keys.map((entry, index) => (entry.everyMs ? Math.min(result.demands[index], result.total) : ((result.total - paced) * entry.clients) / clients) / Math.max(1, result.total));
    run.keys.forEach((entry, index) => {
      const share = result.counts[index] / Math.max(1, result.total);
      const fairShare = result.fair[index] / Math.max(1, result.total);
      const target = index === 0 ? `largest ${fmt(result.maxDeviation)}: ${verdict(result.maxDeviation <= 0.1)}` : "";
      say(`| ${index === 0 ? name : ""} | ${keyLabel(entry)} | ${result.counts[index]} | ${fmt(share)} | ${fmt(fairShare)} (${fmt(result.fair[index], 1)}) | ${fmt(result.deviations[index])} | ${fmt(fcfs[index])} | ${fmt(result.queueMs[index], 0)} | ${target} |`);
    });
  }
  say();
  for (const [name, result] of [["parallel", parallel], ["rpm", rpm]]) {
    say(`- ${name}: ${result.total} admissions counted (instants from the ${result.source}); failures: ${byCount(result.failures)}.`);
  }
  say();
  return { noWait, wait, bound, parallel, rpm };
}
