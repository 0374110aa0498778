// The "utilization" scenario of `npm run bench`: how much of a key's tpm_limit realistic traffic really gets to
// use under each reservation policy, measured from the client side. Plus two figures measured in the same run:
// the tokenizer's time per 100 KB (bench/tokenizer.mjs, when present) and the production Worker bundle size.
//
// Traffic: 16 clients over 2 front doors, each sending a deterministic (seeded) sequence of chat calls:
// prompts of 1-40 KB of English prose and code (log-uniform size), model gpt-4o-mini, max_tokens 4096, the
// mock's natural long-tailed answer lengths (median 300), 0.3-2 s in flight, a third of them streamed. Demand is
// about twice the limit; a refused client waits retry-after-ms (capped) and sends the same call again, as SDKs do.
// Every loop is bounded in time and in count.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { api } from "./load.mjs";

const MODEL = "gpt-4o-mini";
const MAX_TOKENS = 4096;
const LENGTH_MEDIAN = 300;
const CLIENTS = 16;
const FRONT_DOORS = 2;
/** Demand over the limit the key is sized for. */
const DEMAND_FACTOR = 2;
/**
 * For sizing only: this prose and code has about 4.9 characters per o200k token (the mock's count for
 * gpt-4o-mini; 4 where it has no tokenizer, which only raises the demand), and calls take about this much
 * longer than their mock latency on this shared machine (gateway, streaming, retries).
 */
const PROMPT_CHARS_PER_TOKEN = 4.9;
const CALL_OVERHEAD_MS = 500;
const MIN_PROMPT_CHARS = 1024;
const MAX_PROMPT_CHARS = 40 * 1024;
const MIN_LATENCY_MS = 300;
const MAX_LATENCY_MS = 2000;
const STREAM_SHARE = 1 / 3;
/** Part of a streamed call's time spent before its first event; the rest is spread over its events. */
const STREAM_FIRST_EVENT_SHARE = 0.2;
/** The wait before retrying an answer that carries no retry hint (hints are obeyed up to one window). */
const FALLBACK_WAIT_MS = 250;
/** Per-call bound: a call that takes longer is abandoned and counted as a timeout. */
const CALL_TIMEOUT_MS = 30_000;
/** Hard bound on calls per client per run (the time bound comes first in practice). */
const MAX_CALLS_PER_CLIENT = 5_000;
const SEED = "edgequota-utilization-v1";

// ---------------------------------------------------------------------------------------------------------
// Deterministic traffic.

/** FNV-1a and mulberry32, the same functions as src/mock-upstream/hash.ts. */
function fnv1a(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function mulberry32(seed) {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  "the a an of to and in for on with by from as at that this these those it its we our you your they their " +
  "request response limit window token tokens budget key keys gateway model models stream streams upstream " +
  "latency throughput admission reservation policy estimate usage cost spend team deployment object storage " +
  "cache queue worker edge region client server header body field value error retry timeout signal event " +
  "system design review change release version test tests bench result results number numbers table report " +
  "data file files path config setting settings user users account service services network process thread " +
  "is are was were be been has have had will would can could should may might must does did do not never " +
  "always often sometimes rarely quickly slowly carefully exactly roughly mostly only also still already soon " +
  "new old large small fast slow simple complex clear exact stable safe long short high low full empty busy " +
  "run runs send sends read reads write writes count counts check checks return returns start stop wait " +
  "grow shrink measure report learn learns reserve reserves settle settles admit admits refuse refuses " +
  "because when while after before until unless although however therefore instead otherwise meanwhile " +
  "morning evening week month year team people engineer customer product feature plan goal reason question"
).split(" ");

const IDENTS = ["user", "order", "item", "price", "total", "count", "limit", "window", "token", "event", "record", "queue", "cache", "entry", "value", "result", "account", "invoice", "session", "request"];

const pick = (rand, list) => list[Math.floor(rand() * list.length)];
const int = (rand, lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const capital = (word) => word[0].toUpperCase() + word.slice(1);
const camel = (rand) => pick(rand, ["get", "load", "build", "count", "merge", "check", "update"]) + capital(pick(rand, IDENTS)) + capital(pick(rand, IDENTS)) + "s";
const snake = (rand) => `${pick(rand, ["load", "build", "count", "merge", "check"])}_${pick(rand, IDENTS)}_${pick(rand, IDENTS)}s`;

function sentence(rand) {
  const words = [];
  const n = int(rand, 6, 20);
  for (let i = 0; i < n; i++) words.push(pick(rand, WORDS));
  if (n > 10 && rand() < 0.5) words[int(rand, 3, n - 4)] += ",";
  return capital(words.join(" ")) + (rand() < 0.1 ? "?" : ".");
}

function paragraph(rand) {
  const sentences = [];
  const n = int(rand, 3, 8);
  for (let i = 0; i < n; i++) sentences.push(sentence(rand));
  return (rand() < 0.25 ? `## ${capital(pick(rand, WORDS))} ${pick(rand, WORDS)} ${pick(rand, WORDS)}\n\n` : "") + sentences.join(" ");
}

const CODE = [
  (rand) => {
    const [a, b, prop, other] = [pick(rand, IDENTS) + "s", pick(rand, IDENTS), pick(rand, IDENTS), pick(rand, IDENTS)];
    return "```js\n" +
      `export function ${camel(rand)}(${a}, ${b}) {\n` +
      `  const selected = ${a}.filter((item) => item.${prop} > ${int(rand, 0, 999)});\n` +
      `  if (selected.length === 0) return null;\n` +
      `  // ${sentence(rand)}\n` +
      `  return selected.map((item) => ({ ...item, ${other}: item.${prop} * ${b}.factor }));\n` +
      "}\n```";
  },
  (rand) => {
    const [a, prop, other] = [pick(rand, IDENTS) + "s", pick(rand, IDENTS), pick(rand, IDENTS)];
    return "```python\n" +
      `def ${snake(rand)}(${a}, threshold=${int(rand, 1, 500)}):\n` +
      `    """${sentence(rand)}"""\n` +
      `    result = []\n` +
      `    for item in ${a}:\n` +
      `        if item.${prop} >= threshold:\n` +
      `            result.append(item.${other})\n` +
      `    return sorted(result, key=lambda value: value.${prop})\n` +
      "```";
  },
  (rand) => {
    const [a, b, prop, other] = [pick(rand, IDENTS) + "s", pick(rand, IDENTS) + "s", pick(rand, IDENTS), pick(rand, IDENTS)];
    return "```sql\n" +
      `SELECT ${a}.id, ${a}.${prop}, COUNT(${b}.id) AS ${other}_count\n` +
      `FROM ${a}\nJOIN ${b} ON ${b}.${a.slice(0, -1)}_id = ${a}.id\n` +
      `WHERE ${a}.${prop} > ${int(rand, 0, 10_000)} AND ${a}.status = '${pick(rand, ["active", "open", "pending"])}'\n` +
      `GROUP BY ${a}.id, ${a}.${prop}\nORDER BY ${other}_count DESC\nLIMIT ${int(rand, 10, 500)};\n` +
      "```";
  },
  (rand) => {
    const name = capital(pick(rand, IDENTS)) + capital(pick(rand, IDENTS));
    const fields = Array.from({ length: int(rand, 3, 7) }, () => `  ${pick(rand, IDENTS)}${capital(pick(rand, IDENTS))}: ${pick(rand, ["number", "string", "boolean", "string | null", "number[]"])};`);
    return "```ts\n" +
      `/** ${sentence(rand)} */\nexport interface ${name} {\n${fields.join("\n")}\n}\n\n` +
      `export class ${name}Store {\n  private readonly items = new Map<string, ${name}>();\n\n` +
      `  get(id: string): ${name} | undefined {\n    return this.items.get(id);\n  }\n\n` +
      `  put(id: string, item: ${name}): void {\n    if (this.items.size >= ${int(rand, 100, 9999)}) throw new Error("${pick(rand, IDENTS)} store is full");\n    this.items.set(id, item);\n  }\n}\n` +
      "```";
  },
  (rand) => {
    return "```json\n" +
      JSON.stringify({ name: `${pick(rand, IDENTS)}-${pick(rand, IDENTS)}`, version: `${int(rand, 0, 9)}.${int(rand, 0, 20)}.${int(rand, 0, 99)}`, limits: { tpm: int(rand, 1, 100) * 1000, rpm: int(rand, 1, 600), window: `${int(rand, 1, 60)}s` }, tags: [pick(rand, WORDS), pick(rand, WORDS)], enabled: rand() < 0.5 }, null, 2) +
      "\n```";
  },
];

/** Exactly `chars` characters of prose and code, with a share of code drawn per prompt. */
function promptText(rand, chars) {
  const codeShare = 0.1 + 0.6 * rand();
  const parts = [pick(rand, ["Review the notes and code below and summarise what changed.", "Explain what the following does and point out any bugs.", "Answer the question at the end using the material below."])];
  let length = parts[0].length;
  while (length < chars) {
    const part = rand() < codeShare ? pick(rand, CODE)(rand) : paragraph(rand);
    parts.push(part);
    length += part.length + 2;
  }
  return parts.join("\n\n").slice(0, chars);
}

const SYSTEM_PROMPT = "You are a careful assistant for a software team. Answer precisely.";

/**
 * The mock's natural answer length for these messages, as src/mock-upstream/tokens.ts draws it (log-normal from
 * a hash of the serialised prompt), capped by max_tokens. Used only to time streamed calls and to check, after
 * the run, that the mock answered as planned.
 */
function naturalTokens(messages, median) {
  const next = mulberry32(fnv1a(JSON.stringify(messages)));
  const z = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const length = Math.round(median * Math.exp(z));
  return Math.min(Math.max(length, median > 0 ? 1 : 0), 100_000);
}

/** The prompt_tokens the mock reports: ceil(chars / 4) per message plus 3 per message and 3 per request. */
function mockPromptTokens(messages) {
  return 3 + messages.reduce((sum, message) => sum + 3 + Math.ceil(message.content.length / 4), 0);
}

/** The gateway's byte bound of a chat prompt (src/upstream/estimate.ts), what strict reserves for it. */
function promptByteBound(messages) {
  return 8 + Buffer.byteLength(JSON.stringify(messages));
}

const plans = new Map();

/** Call `index` of client `client`: the same for every run (and every policy). */
export function planOf(client, index) {
  const id = `${client}:${index}`;
  let plan = plans.get(id);
  if (plan) return plan;
  const rand = mulberry32(fnv1a(`${SEED}:${id}`));
  const chars = Math.round(MIN_PROMPT_CHARS * (MAX_PROMPT_CHARS / MIN_PROMPT_CHARS) ** rand());
  const latencyMs = MIN_LATENCY_MS + Math.floor(rand() * (MAX_LATENCY_MS - MIN_LATENCY_MS + 1));
  const stream = rand() < STREAM_SHARE;
  const messages = [
    { role: "system", content: SYSTEM_PROMPT },
    { role: "user", content: promptText(rand, chars) },
  ];
  const completion = Math.min(naturalTokens(messages, LENGTH_MEDIAN), MAX_TOKENS);
  const headers = { "x-mock-length-median": String(LENGTH_MEDIAN) };
  if (stream) {
    // The mock sleeps chunk-delay before every event: head, one per token, finish, usage, [DONE], end.
    const events = completion + 5;
    const perEvent = Math.floor((latencyMs * (1 - STREAM_FIRST_EVENT_SHARE)) / events);
    if (perEvent >= 1) {
      // What whole milliseconds per event leave over goes before the first event: the total stays latencyMs.
      headers["x-mock-latency-ms"] = String(latencyMs - perEvent * events);
      headers["x-mock-chunk-delay-ms"] = String(perEvent);
    } else {
      // Too many tokens for even 1 ms each: the wait goes before the first event, the events flow freely.
      headers["x-mock-latency-ms"] = String(latencyMs);
    }
  } else {
    headers["x-mock-latency-ms"] = String(latencyMs);
  }
  const body = JSON.stringify({
    model: MODEL,
    messages,
    max_tokens: MAX_TOKENS,
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
  const promptTokens = mockPromptTokens(messages);
  plan = { stream, chars, headers, body, plannedMs: latencyMs, promptTokens, completion, total: promptTokens + completion, strictTokens: promptByteBound(messages) + MAX_TOKENS };
  plans.set(id, plan);
  return plan;
}

// ---------------------------------------------------------------------------------------------------------
// Load.

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** usage.total_tokens of a JSON answer, or of the usage chunk of a stream; null when absent. */
function usageOf(text, stream) {
  if (!stream) {
    try {
      return JSON.parse(text).usage ?? null;
    } catch {
      return null;
    }
  }
  let usage = null;
  for (const line of text.split("\n")) {
    if (!line.startsWith("data:")) continue;
    const data = line.slice(5).trim();
    if (data === "[DONE]" || !data.includes('"usage"')) continue;
    try {
      const event = JSON.parse(data);
      if (event.usage) usage = event.usage;
    } catch {
      // not JSON: not ours to judge here
    }
  }
  return usage;
}

/**
 * One policy's run: `clients` loops, client c always on front door c % doors.length, each working through its own
 * call sequence until `durationMs` has passed (calls in flight then finish and count).
 */
async function drive({ doors, key, durationMs, maxWaitMs, clients }) {
  const calls = [];
  const refusals = [];
  const errors = {};
  let waitedMs = 0;
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const client = async (c) => {
    const url = doors[c % doors.length].url + "/v1/chat/completions";
    let index = 0;
    let attempts = 0;
    while (now() < durationMs && index < MAX_CALLS_PER_CLIENT && attempts < 4 * MAX_CALLS_PER_CLIENT) {
      attempts++;
      const plan = planOf(c, index);
      const sentMs = now();
      let response;
      let text;
      try {
        response = await fetch(url, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...plan.headers },
          body: plan.body,
          signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
        });
        text = await response.text(); // streamed bodies are read to their end
      } catch (error) {
        const name = error?.name === "TimeoutError" ? "timeout" : `fetch failed (${error?.cause?.code ?? error?.message ?? error})`;
        errors[name] = (errors[name] ?? 0) + 1;
        index++;
        await sleep(100);
        continue;
      }
      const doneMs = now();
      if (response.status === 200) {
        const usage = usageOf(text, plan.stream);
        calls.push({ id: `${c}:${index}`, sentMs, doneMs, stream: plan.stream, usage, plan, callId: response.headers.get("x-litellm-call-id") });
        index++;
        continue;
      }
      let code = `http_${response.status}`;
      let message = text.slice(0, 300);
      let remaining = null;
      let requested = null;
      try {
        const error = JSON.parse(text).error;
        code = error?.code ?? code;
        message = error?.message ?? message;
        remaining = typeof error?.limit?.remaining === "number" ? error.limit.remaining : null;
        requested = typeof error?.limit?.requested === "number" ? error.limit.requested : null;
      } catch {
        // keep the status and the raw text
      }
      // As the OpenAI SDKs: 408, 409, 429 and 5xx are retried unless the server says x-should-retry: false.
      const status = response.status;
      const retryable = (status === 408 || status === 409 || status === 429 || status >= 500) && response.headers.get("x-should-retry") !== "false";
      if (status !== 429 || !retryable) {
        const entry = (errors[code] ??= { count: 0, status, first: message, atMs: [] });
        entry.count++;
        if (entry.atMs.length < 50) entry.atMs.push(Math.round(sentMs));
      }
      if (!retryable) {
        // request_exceeds_limit among them: an SDK gives up on this call and the client goes on with the next.
        index++;
        await sleep(100);
        continue;
      }
      const retryAfterMs = response.headers.get("retry-after-ms");
      const retryAfter = response.headers.get("retry-after");
      const hinted = retryAfterMs !== null ? Number(retryAfterMs) : retryAfter !== null ? Number(retryAfter) * 1000 : Number.NaN;
      const wait = Math.min(Number.isFinite(hinted) && hinted >= 0 ? hinted : FALLBACK_WAIT_MS, maxWaitMs, Math.max(0, durationMs - now()));
      if (status === 429) refusals.push({ id: `${c}:${index}`, sentMs, code, hintedMs: Number.isFinite(hinted) ? hinted : null, remaining, requested });
      waitedMs += wait;
      await sleep(wait);
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  return { calls, refusals, errors, waitedMs, wallMs: now(), clients };
}

// ---------------------------------------------------------------------------------------------------------
// Analysis.

function median(values) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function quantile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Real tokens of the calls sent in [from, to) (ms since the run's start). */
function tokensSentIn(calls, from, to) {
  let sum = 0;
  for (const call of calls) if (call.sentMs >= from && call.sentMs < to && call.usage) sum += call.usage.total_tokens;
  return sum;
}

function analyse(run, tpm, windowMs, windows) {
  const { calls, refusals } = run;
  const start = windowMs; // the first window is warm-up
  const end = windows * windowMs;
  const consecutive = [];
  for (let from = start; from + windowMs <= end + 1e-6; from += windowMs) consecutive.push(tokensSentIn(calls, from, from + windowMs) / tpm);
  const sliding = [];
  for (let step = 0; start + step * (windowMs / 10) + windowMs <= end + 1e-6; step++) {
    const from = start + step * (windowMs / 10);
    sliding.push(tokensSentIn(calls, from, from + windowMs) / tpm);
  }
  // A refusal "left room" when, by the real usage of the calls sent in the window before it, the refused call
  // would have fit: capacity held by reservations above what calls really used (post hoc, client-side view).
  const measuredRefusals = refusals.filter((refusal) => refusal.sentMs >= start && refusal.sentMs < end);
  // A refused call is sent again until it is answered: its answer says what it really used.
  const answered = new Map(calls.filter((call) => call.usage).map((call) => [call.id, call.usage]));
  let roomy = 0;
  const counted = [];
  const real = [];
  for (const refusal of measuredRefusals) {
    const used = tokensSentIn(calls, refusal.sentMs - windowMs, refusal.sentMs);
    const need = answered.get(refusal.id)?.total_tokens ?? planOf(...refusal.id.split(":").map(Number)).total;
    if (used + need <= tpm) roomy++;
    real.push(used / tpm);
    if (refusal.remaining !== null) counted.push((tpm - refusal.remaining) / tpm);
  }
  const measured = calls.filter((call) => call.sentMs >= start && call.sentMs < end);
  const outputs = calls.filter((call) => call.usage).map((call) => call.usage.completion_tokens);
  // Answer lengths are planned from the mock's hash (see naturalTokens); prompt counts are the mock's own.
  const mismatched = calls.filter((call) => call.usage && call.usage.completion_tokens !== call.plan.completion).length;
  const answers = calls.filter((call) => call.usage);
  const meanTotal = answers.reduce((sum, call) => sum + call.usage.total_tokens, 0) / answers.length;
  const promptPerKb = answers.reduce((sum, call) => sum + call.usage.prompt_tokens, 0) / (answers.reduce((sum, call) => sum + call.plan.chars, 0) / 1024);
  const meanCallMs = calls.reduce((sum, call) => sum + call.doneMs - call.sentMs, 0) / calls.length;
  const durations = calls.map((call) => call.doneMs - call.sentMs);
  // What a strict refusal says the call needs is its prompt count plus max_tokens: the prompt count the gateway
  // reserves, to compare with the prompt_tokens the mock charges for the same prompt.
  const promptRatios = refusals
    .filter((refusal) => refusal.requested !== null && answered.has(refusal.id))
    .map((refusal) => (refusal.requested - MAX_TOKENS) / answered.get(refusal.id).prompt_tokens);
  const hints = measuredRefusals.map((refusal) => refusal.hintedMs).filter((hint) => hint !== null);
  return {
    meanTotal,
    promptPerKb,
    // What the clients would have used unrefused: every client always busy with calls of this size and time.
    demandFactor: (run.clients * (windowMs / meanCallMs) * meanTotal) / tpm,
    promptRatioMin: Math.min(...promptRatios),
    promptRatioP50: quantile(promptRatios, 0.5),
    promptRatioMax: Math.max(...promptRatios),
    promptUnder: promptRatios.filter((ratio) => ratio < 1).length,
    promptRatios: promptRatios.length,
    countedAtRefusal: median(counted),
    realAtRefusal: median(real),
    hintP50: quantile(hints, 0.5),
    hintP95: quantile(hints, 0.95),
    hintsAtFloor: hints.filter((hint) => hint <= 10).length,
    hints: hints.length,
    consecutive,
    sliding,
    min: Math.min(...consecutive),
    median: median(consecutive),
    max: Math.max(...consecutive),
    maxSliding: Math.max(...sliding),
    measuredCalls: measured.length,
    measuredRefusals: measuredRefusals.length,
    roomy,
    withoutUsage: calls.filter((call) => !call.usage).length,
    outputP50: quantile(outputs, 0.5),
    outputP95: quantile(outputs, 0.95),
    mismatched,
    durationP50: quantile(durations, 0.5),
    durationP95: quantile(durations, 0.95),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Side measurements: tokenizer speed and bundle size.

function runChild(command, args, options) {
  return new Promise((resolve) => {
    execFile(command, args, { maxBuffer: 16 * 1024 * 1024, ...options }, (error, stdout, stderr) => resolve({ error, stdout: String(stdout), stderr: String(stderr) }));
  });
}

function describe(value) {
  if (typeof value === "number") return Number.isFinite(value) ? [`${value.toFixed(3)} ms per 100 KB`] : null;
  if (typeof value === "string") return value.trim() ? value.trim().split("\n") : null;
  if (Array.isArray(value)) return value.length ? value.map((line) => (typeof line === "string" ? line : JSON.stringify(line))) : null;
  if (value && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => typeof v === "number" || typeof v === "string");
    return entries.length ? [entries.map(([k, v]) => `${k}: ${typeof v === "number" ? Number(v.toFixed(3)) : v}`).join(", ")] : null;
  }
  return null;
}

function withTimeout(promise, ms) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

/** Lines describing the tokenizer's time per 100 KB, from bench/tokenizer.mjs's export or its output. */
async function tokenizerTiming(quick) {
  const file = join(process.cwd(), "bench", "tokenizer.mjs");
  if (!existsSync(file)) return { source: "not measured", lines: ["bench/tokenizer.mjs does not exist (yet): nothing to measure."] };
  const notes = [];
  try {
    // A script without exports runs its main when imported: do not run it twice, run it as a child only.
    if (!/^\s*export\b/m.test(readFileSync(file, "utf8"))) throw new Error("it exports nothing");
    const module = await import(pathToFileURL(file).href);
    const functions = Object.entries(module).filter(([, value]) => typeof value === "function");
    const preferred =
      functions.find(([name]) => /100\s*_?kb|per_?100|per100/i.test(name)) ??
      functions.find(([name]) => /time|bench|measure|speed/i.test(name)) ??
      functions.find(([name]) => name === "default");
    if (preferred) {
      const [name, fn] = preferred;
      try {
        const lines = describe(await withTimeout(Promise.resolve(fn({ quick })), 120_000));
        if (lines) return { source: `export ${name}() of bench/tokenizer.mjs`, lines };
        notes.push(`export ${name}() returned nothing usable`);
      } catch (error) {
        notes.push(`export ${name}() failed: ${error?.message ?? error}`);
      }
    } else {
      notes.push(`no usable export (exports: ${Object.keys(module).join(", ") || "none"})`);
    }
  } catch (error) {
    notes.push(`not imported: ${error?.message ?? error}`);
  }
  const child = await runChild(process.execPath, [file], { timeout: 120_000, cwd: process.cwd() });
  const lines = child.stdout.split("\n").map((line) => line.trimEnd()).filter(Boolean).slice(0, 30);
  if (child.error) lines.push(`(node bench/tokenizer.mjs failed: ${child.error.killed ? "timed out after 120 s" : child.error.message.split("\n")[0]}${child.stderr ? `; stderr: ${child.stderr.trim().split("\n").slice(-2).join(" / ")}` : ""})`);
  return { source: `stdout of \`node bench/tokenizer.mjs\`, ${notes.join("; ")}`, lines: lines.length ? lines : ["(no output)"] };
}

/** gzip size of the production bundle, as `wrangler deploy --dry-run` builds it from wrangler.toml. */
export async function bundleSize() {
  const out = mkdtempSync(join(tmpdir(), "edgequota-bundle-"));
  try {
    const child = await runChild(join(process.cwd(), "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", out, "-c", "wrangler.toml"], {
      cwd: process.cwd(),
      timeout: 180_000,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
    });
    if (child.error) return { error: `wrangler deploy --dry-run failed: ${(child.stderr || child.stdout || child.error.message).trim().split("\n").slice(-3).join(" / ")}` };
    const files = readdirSync(out).filter((name) => name.endsWith(".js") || name.endsWith(".mjs"));
    let raw = 0;
    let gzip = 0;
    for (const name of files) {
      const bytes = readFileSync(join(out, name));
      raw += bytes.length;
      gzip += gzipSync(bytes).length;
    }
    const wranglerLine = (child.stdout + child.stderr).split("\n").find((line) => line.includes("Total Upload"))?.trim() ?? null;
    return { files, raw, gzip, wranglerLine };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------

async function settledInfo(base, key) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const { info } = await api(base, `/key/info?key=${encodeURIComponent(key)}`);
    if (info.usage.in_flight === 0) return info;
    await sleep(50);
  }
  const { info } = await api(base, `/key/info?key=${encodeURIComponent(key)}`);
  return info;
}

function learnedSummary(info) {
  const learned = info?.usage?.learned;
  if (!learned) return "(no usage.learned in /key/info)";
  const model = learned.models?.find((entry) => entry.model === MODEL) ?? learned.models?.[0];
  const parts = [];
  if (model) {
    parts.push(`${model.model}: output p50 ${model.output_p50} / p95 ${model.output_p95} over ${fmtNumber(model.output_samples)} samples, reserves ${model.output_estimate ?? "max_tokens (not learned)"}`);
    parts.push(`prompt ratio p99 ${model.prompt_ratio_p99} (${fmtNumber(model.prompt_samples)} samples)${model.prompt_bound_broken_at ? `, bound broken at ${model.prompt_bound_broken_at}` : ""}`);
  } else parts.push("no model learned");
  const duration = learned.call_duration_ms;
  if (duration) parts.push(`call duration p50 ${duration.p50} ms / p95 ${duration.p95} ms`);
  return parts.join("; ");
}

const fmtNumber = (value) => (Number.isFinite(value) ? String(Math.round(value * 10) / 10) : String(value));
const byCount = (counts) =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([name, count]) => `${name}: ${count}`)
    .join(", ") || "none";

/**
 * Sizes a key for `clients` clients of this traffic in windows of `windowMs`: about DEMAND_FACTOR times what they
 * would use unrefused, never below what strict reserves for the largest request (so every call fits).
 */
export function sizeKey(windowMs, clients = CLIENTS) {
  // Size the key from the planned traffic itself: expected real tokens per call and time per call.
  const sample = [];
  for (let c = 0; c < clients; c++) for (let i = 0; i < 24; i++) sample.push(planOf(c, i));
  const meanTokens = sample.reduce((sum, plan) => sum + plan.chars / PROMPT_CHARS_PER_TOKEN + plan.completion, 0) / sample.length;
  const meanMs = sample.reduce((sum, plan) => sum + plan.plannedMs, 0) / sample.length + CALL_OVERHEAD_MS;
  const demand = clients * (windowMs / meanMs) * meanTokens;
  // Never below what strict reserves for the largest request even at the prompt's byte bound: every call fits.
  const largestStrict = Math.max(...sample.map((plan) => plan.strictTokens));
  const tpm = Math.max(Math.round(demand / DEMAND_FACTOR / 1000) * 1000, Math.ceil((largestStrict * 1.05) / 1000) * 1000);
  const streamed = sample.filter((plan) => plan.stream).length / sample.length;
  return { tpm, meanTokens, meanMs, demand, streamed };
}

/** Whether a policy's windows meet their targets: adaptive median >= 0.95 and all <= 1.02; strict all <= 1.00. */
export function utilizationMet(policy, stats) {
  return policy === "adaptive"
    ? stats.median >= 0.95 && stats.max <= 1.02 && stats.maxSliding <= 1.02
    : stats.max <= 1.0 && stats.maxSliding <= 1.0;
}

/**
 * One policy's run against a fresh key of `tpm` (alias `alias`): `clients` clients over `doors` for `windows`
 * windows of `windowMs`, the first one warm-up. Returns the run, its analysis and the key's settled /key/info,
 * or `skipped` when the policy cannot be set.
 */
export async function measurePolicy(topology, { policy, tpm, doors, windowMs, windows, clients = CLIENTS, alias = `utilization-${policy}`, onKey }) {
  let key;
  let note = "";
  try {
    ({ key } = await api(topology.authority.url, "/key/generate", { tpm_limit: tpm, reservation_policy: policy, key_alias: alias }));
  } catch (error) {
    const message = String(error?.message ?? error).slice(0, 300);
    if (policy !== "adaptive") return { policy, skipped: `not measured: /key/generate refused reservation_policy "${policy}": ${message}` };
    // The default policy is adaptive: measure the default, and say the field itself was refused.
    note = `reservation_policy refused by /key/generate (${message}); measured the default policy`;
    ({ key } = await api(topology.authority.url, "/key/generate", { tpm_limit: tpm, key_alias: alias }));
  }
  const before = await api(topology.authority.url, `/key/info?key=${encodeURIComponent(key)}`);
  const shown = before.info?.usage?.reservation_policy;
  if (shown !== undefined && shown !== policy) note += `${note ? "; " : ""}/key/info reports reservation_policy "${shown}"`;
  const run = await drive({ doors, key, durationMs: windows * windowMs, maxWaitMs: windowMs, clients });
  const info = await settledInfo(topology.authority.url, key).catch((error) => ({ error: String(error?.message ?? error) }));
  const codes = {};
  for (const refusal of run.refusals) codes[refusal.code] = (codes[refusal.code] ?? 0) + 1;
  const stats = analyse(run, tpm, windowMs, windows);
  if (Object.values(run.errors).some((entry) => entry.status >= 500)) {
    for (const process of [topology.authority, ...doors]) {
      const tail = process.errors?.().trim();
      if (tail) console.error(`  ${process.name} stderr (tail):\n${tail.slice(-1500)}`);
    }
  }
  if (onKey) await onKey(key, run);
  return { policy, note, run, codes, stats, info, tpm, key };
}

/**
 * Runs the scenario for both policies against `topology` (an authority and at least 2 front doors, started
 * with RATE_LIMIT_WINDOW_SECONDS = windowS) and writes its section with `say`.
 */
export async function utilization(topology, { quick, say, fmt, verdict, windowS, section = 2, windows = quick ? 4 : 6, title = "", extras = true }) {
  const windowMs = windowS * 1000;
  const doors = topology.frontDoors.slice(0, FRONT_DOORS);
  if (doors.length < FRONT_DOORS) throw new Error(`utilization needs ${FRONT_DOORS} front doors, got ${doors.length}`);
  const { tpm, meanTokens, meanMs, demand, streamed } = sizeKey(windowMs);

  say(`## ${section}. Utilization under realistic traffic${title ? ` (${title})` : ""}`);
  say();
  say(`${CLIENTS} clients over ${FRONT_DOORS} front doors, each working through its own seeded sequence of chat calls (the same`);
  say(`sequences for both policies): ${MODEL}, prompts of 1-40 KB of English prose and code (log-uniform size),`);
  say(`max_tokens ${MAX_TOKENS}, the mock's natural answer lengths (x-mock-length-median ${LENGTH_MEDIAN}, long`);
  say(`tail), ${MIN_LATENCY_MS / 1000}-${MAX_LATENCY_MS / 1000} s in flight (x-mock-latency-ms, uniform), ${fmt(streamed * 100, 0)}% of calls streamed with include_usage (chunk delays`);
  say(`spread the same time over the events). Sized at about ${fmt(meanTokens, 0)} tokens and ${fmt(meanMs, 0)} ms per call, a demand of`);
  say(`${fmt(demand, 0)} tokens per ${windowS} s window: the key gets tpm_limit ${tpm} (the demand measured is given below). A refused`);
  say(`client waits retry-after-ms (at most one window) and sends the same call again. ${windows} windows per policy; the`);
  say(`first is warm-up (adaptive learns from its first calls). Used fraction = real usage.total_tokens of the 200`);
  say(`answers, keyed by the time each call was sent, summed per window / tpm_limit: over the ${windows - 1} consecutive windows`);
  say(`after warm-up, and the highest over windows sliding by ${windowS / 10} s. Targets: adaptive median >= 0.95 with every`);
  say(`window <= 1.02; strict every window <= 1.00; no request_exceeds_limit (every request here fits the limit).`);
  say();

  const results = [];
  for (const policy of ["adaptive", "strict"]) {
    console.error(`  utilization: ${policy}`);
    const result = await measurePolicy(topology, { policy, tpm, doors, windowMs, windows });
    results.push(result);
    if (result.skipped) continue;
    const { stats, run } = result;
    console.error(`  utilization: ${policy}: windows ${stats.consecutive.map((ratio) => fmt(ratio)).join(" ")}, max sliding ${fmt(stats.maxSliding)}, ${run.calls.length} calls, ${run.refusals.length} 429s`);
  }

  say(`| policy | used fraction per window: min / median / max | max sliding | target | calls completed (after warm-up) | 429s by code (after warm-up) | request_exceeds_limit | other failures |`);
  say(`|---|---|---|---|---|---|---|---|`);
  for (const result of results) {
    if (result.skipped) {
      say(`| ${result.policy} | ${result.skipped} | | **missed** | | | | |`);
      continue;
    }
    const { policy, run, codes, stats } = result;
    const exceeds = run.errors.request_exceeds_limit?.count ?? 0;
    const ok = utilizationMet(policy, stats);
    const others = Object.fromEntries(Object.entries(run.errors).filter(([name]) => name !== "request_exceeds_limit").map(([name, entry]) => [`${entry.status} ${name}`, entry.count]));
    const target = policy === "adaptive" ? `median >= 0.95, all <= 1.02: ${verdict(ok)}` : `all <= 1.00: ${verdict(ok)}`;
    say(
      `| ${policy} | ${fmt(stats.min)} / ${fmt(stats.median)} / ${fmt(stats.max)} | ${fmt(stats.maxSliding)} | ${target}; none too large: ${verdict(exceeds === 0)} | ` +
        `${run.calls.length} (${stats.measuredCalls}) | ${byCount(codes)} (${stats.measuredRefusals}) | ${exceeds} | ${byCount(others)} |`,
    );
  }
  say();
  for (const result of results) {
    if (result.skipped) continue;
    const { policy, run, stats, info, note } = result;
    say(`- ${policy}: windows ${stats.consecutive.map((ratio) => fmt(ratio)).join(", ")}. ${stats.roomy} of the ${stats.measuredRefusals} refusals after warm-up came when,`);
    say(`  by the real usage of the calls sent in the window before, the refused call would have fit (capacity held by`);
    say(`  estimates above real use): at a refusal the gateway counted (median) ${fmt(stats.countedAtRefusal, 2)} of tpm_limit used or reserved`);
    say(`  (error.limit.remaining), the calls of the window before really used ${fmt(stats.realAtRefusal, 2)}. retry-after-ms p50 / p95 ${fmtNumber(stats.hintP50)} / ${fmtNumber(stats.hintP95)} ms (${stats.hintsAtFloor} of ${stats.hints} at <= 10 ms); clients`);
    say(`  spent ${fmt(run.waitedMs / 1000 / run.clients, 1)} of ${fmt(run.wallMs / 1000, 1)} s each waiting on retry hints. Real tokens per call ${fmt(stats.meanTotal, 0)} (prompts`);
    say(`  ${fmt(stats.promptPerKb, 0)} per KB), output p50 / p95 ${stats.outputP50} / ${stats.outputP95}; call time p50 / p95 ${fmt(stats.durationP50, 0)} / ${fmt(stats.durationP95, 0)} ms: demand`);
    say(`  was about ${fmt(stats.demandFactor, 2)}x tpm_limit (16 clients always busy with calls of the answered calls' mean size and time).` +
      (stats.withoutUsage ? ` ${stats.withoutUsage} answers carried no usage (not counted).` : "") +
      (stats.mismatched ? ` ${stats.mismatched} answers differed from the mock's planned lengths.` : ""));
    say(`  Learned (/key/info usage.learned): ${info.error ? `unavailable: ${info.error}` : learnedSummary(info)}.` + (note ? ` Note: ${note}.` : ""));
    if (policy === "strict" && stats.promptRatios > 0) {
      say(`  Prompt reservations: a strict refusal asks for (error.limit.requested - max_tokens) = min / p50 / max ${fmt(stats.promptRatioMin, 2)} / ${fmt(stats.promptRatioP50, 2)} / ${fmt(stats.promptRatioMax, 2)}`);
      say(`  of the prompt_tokens the mock then charged for that prompt (${stats.promptUnder} of ${stats.promptRatios} below 1: reserved less than charged).`);
    }
    for (const [code, entry] of Object.entries(run.errors)) {
      say(`  ${entry.count} x ${entry.status} ${code}, sent at ${entry.atMs.slice(0, 8).map((ms) => fmt(ms / 1000, 1)).join(", ")}${entry.atMs.length > 8 ? ", ..." : ""} s: "${entry.first.replace(/\s+/g, " ").slice(0, 200)}"`);
    }
  }
  say();
  if (!extras) return;

  // Measured after the load, so they do not compete with it for this machine's two cores.
  console.error(`  utilization: tokenizer and bundle size`);
  const tokenizer = await tokenizerTiming(quick);
  const bundle = await bundleSize();
  say(`Measured in the same run, after the load:`);
  say();
  say(`- Tokenizer time per 100 KB (${tokenizer.source}):`);
  say();
  say("  ```text");
  for (const line of tokenizer.lines) say(`  ${line}`);
  say("  ```");
  say();
  if (bundle.error) say(`- Production Worker bundle (\`wrangler deploy --dry-run\`, wrangler.toml): ${bundle.error}`);
  else
    say(
      `- Production Worker bundle (\`wrangler deploy --dry-run --outdir\`, wrangler.toml): ${bundle.files.join(", ")} ${fmt(bundle.raw / 1024, 1)} KiB, ` +
        `gzip ${fmt(bundle.gzip / 1024, 1)} KiB (node:zlib gzipSync)${bundle.wranglerLine ? `; wrangler says "${bundle.wranglerLine}"` : ""}.`,
    );
  say();
}
