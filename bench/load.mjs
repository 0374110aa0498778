// A small bounded load generator: `concurrency` loops, each sending requests until a count or a deadline is
// reached, whichever comes first. Loopback only; every loop stops by itself.
export const MASTER = "sk-bench-master";

/** wrangler dev sometimes restarts its runtime (e.g. when the dev registry changes); such calls are retried. */
export let restarts = 0;

/** Calls that timed out (an answer lost to a runtime restart never arrives) and were sent again. */
export let timeouts = 0;

export async function api(base, path, body, token = MASTER, { timeoutMs = 180_000, retryTimeouts = false } = {}) {
  for (let attempt = 1; ; attempt++) {
    let response;
    try {
      response = await fetch(base + path, {
        method: body === undefined ? "GET" : "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      if (!retryTimeouts || error?.name !== "TimeoutError" || attempt >= 4) throw error;
      timeouts++;
      continue;
    }
    const text = await response.text();
    if (response.status === 503 && text.includes("restarted mid-request") && attempt < 4) {
      restarts++;
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      continue;
    }
    if (!response.ok) throw new Error(`${path}: ${response.status} ${text}`);
    return JSON.parse(text);
  }
}

/**
 * The embedded mock's natural answer to this prompt is about 1,100 tokens (a log-normal length drawn from a hash
 * of the prompt), longer than any cap used here, so every answer is exactly `maxTokens` long. (The mock's
 * `x-mock-length-median` request header sets the median of natural lengths, for runs that want varied answers.)
 */
export function chatBody(maxTokens = 50) {
  return JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Benchmark me, exactly." }], max_tokens: maxTokens });
}

/**
 * Runs the load. `target(i)` returns the URL of request i (to spread it over front doors); `onResponse` sees
 * every answer. Returns latencies (ms) of every request and the wall time.
 */
export async function runLoad({ target, key, body, concurrency, maxRequests, maxMs, onResponse, stopWhen }) {
  const latencies = [];
  const started = performance.now();
  let sent = 0;
  let stop = false;
  const loop = async () => {
    while (!stop && sent < maxRequests && performance.now() - started < maxMs) {
      const index = sent++;
      const t0 = performance.now();
      let response;
      try {
        response = await fetch(target(index), {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body,
        });
      } catch (error) {
        latencies.push(performance.now() - t0);
        continue;
      }
      const text = await response.text();
      latencies.push(performance.now() - t0);
      // Send and receive offsets bracket the moment the gateway admitted the request.
      if (onResponse) onResponse(response, text, t0 - started, performance.now() - started);
      if (stopWhen && stopWhen(response, text)) stop = true;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { latencies, wallMs: performance.now() - started, sent };
}

export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
