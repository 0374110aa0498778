// Investigation helper (run: node bench/repro-overshoot.mjs) (not part of npm run bench): does a wrangler runtime reload during load let a key
// admit more than its tpm_limit? Starts an authority and two front doors, loads one key through both, and
// half-way starts a third front door (a dev registry change, which makes wrangler reload runtimes).
import { api, chatBody, runLoad } from "./load.mjs";
import { startTopology, stopAll, startExtraFrontDoor } from "./processes.mjs";

const WINDOW_S = 10;
const TPM = 30_000;
const topology = await startTopology(2, { MASTER_KEY: "sk-bench-master", RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_S) });
await new Promise((resolve) => setTimeout(resolve, 10_000));
try {
  for (let round = 0; round < 3; round++) {
    const { key } = await api(topology.authority.url, "/key/generate", { tpm_limit: TPM });
    let tokens = 0;
    const statuses = {};
    const extra = round > 0 ? setTimeout(() => void startExtraFrontDoor(2 + round), 3_000) : null;
    await runLoad({
      target: (index) => topology.frontDoors[index % 2].url + "/v1/chat/completions",
      key,
      body: chatBody(50),
      concurrency: 32,
      maxRequests: 1e6,
      maxMs: WINDOW_S * 1000 - 200,
      onResponse: (response, text) => {
        statuses[response.status] = (statuses[response.status] ?? 0) + 1;
        if (response.status === 200) tokens += JSON.parse(text).usage.total_tokens;
      },
    });
    if (extra) clearTimeout(extra);
    const { info } = await api(topology.authority.url, `/key/info?key=${encodeURIComponent(key)}`);
    console.log(`round ${round} (${round > 0 ? "with" : "without"} a registry change): ratio ${(tokens / TPM).toFixed(3)}`, statuses, `window tokens ${info.usage.tokens}`);
    await new Promise((resolve) => setTimeout(resolve, 12_000));
  }
} finally {
  stopAll();
}
