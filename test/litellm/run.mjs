#!/usr/bin/env node
// npm run e2e:litellm: LiteLLM's real proxy behind the gateway, driven by the official `openai` and
// `@anthropic-ai/sdk` clients.
// Creates .venv-litellm (ignored), installs the pinned litellm[proxy] from PyPI, starts LiteLLM on loopback with
// test/litellm/config.yaml (LiteLLM's own mock responses, no provider network), starts the gateway under
// `wrangler dev` pointing at it, runs test/litellm/*.test.mjs, and stops everything it started, also on failure.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWrangler } from "../helpers/wrangler.mjs";

export const LITELLM_VERSION = "1.106.2";
const VENV = ".venv-litellm";
const LITELLM_PORT = 4555;
const LITELLM_MASTER = "sk-litellm-e2e-master";
const GATEWAY = { port: 9711, inspectorPort: 9712 };

function fail(line) {
  console.error(line);
  process.exit(1);
}

function install() {
  const python = join(VENV, "bin", "python");
  const marker = join(VENV, `.litellm-${LITELLM_VERSION}`);
  if (existsSync(marker)) return;
  if (!existsSync(python)) {
    const venv = spawnSync("python3", ["-m", "venv", VENV], { stdio: "inherit" });
    if (venv.status !== 0) fail(`e2e:litellm: cannot create a Python virtual environment (python3 -m venv ${VENV} failed); LiteLLM cannot run here.`);
  }
  console.log(`e2e:litellm: installing litellm[proxy]==${LITELLM_VERSION} into ${VENV} ...`);
  const pip = spawnSync(python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", `litellm[proxy]==${LITELLM_VERSION}`], { stdio: "inherit" });
  if (pip.status !== 0) fail(`e2e:litellm: cannot install litellm[proxy]==${LITELLM_VERSION} from PyPI on this machine; the LiteLLM end-to-end tests did not run.`);
  spawnSync("touch", [marker]);
}

const children = [];
function stopAll() {
  for (const stop of children.splice(0)) stop();
}
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => {
  stopAll();
  process.exit(130);
});
process.on("exit", stopAll);

async function waitFor(url, what, timeoutMs, logs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  fail(`e2e:litellm: ${what} did not start within ${timeoutMs / 1000} s:\n${logs()}`);
}

async function main() {
  install();
  let litellmLog = "";
  const litellm = spawn(join(VENV, "bin", "litellm"), ["--config", "test/litellm/config.yaml", "--host", "127.0.0.1", "--port", String(LITELLM_PORT)], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      LITELLM_LOG: "ERROR",
      LITELLM_TELEMETRY: "False",
      NO_DOCS: "True",
      // config.yaml's Claude model is served by this same proxy's mocked gpt-4o-mini (see there).
      LITELLM_SELF_BASE_URL: `http://127.0.0.1:${LITELLM_PORT}`,
    },
  });
  for (const stream of [litellm.stdout, litellm.stderr]) stream.on("data", (chunk) => (litellmLog = (litellmLog + chunk).slice(-4000)));
  children.push(() => {
    try {
      process.kill(-litellm.pid, "SIGKILL");
    } catch {
      // already gone
    }
  });
  await waitFor(`http://127.0.0.1:${LITELLM_PORT}/health/liveliness`, "LiteLLM's proxy", 120_000, () => litellmLog);

  const persistTo = mkdtempSync(join(tmpdir(), "edgequota-litellm-"));
  const gateway = startWrangler({
    ...GATEWAY,
    persistTo,
    vars: {
      MASTER_KEY: "sk-e2e-master",
      UPSTREAM_BASE_URL: `http://127.0.0.1:${LITELLM_PORT}`,
      UPSTREAM_API_KEY: LITELLM_MASTER,
      // A short window so the rate-limit test waits seconds, not a minute.
      RATE_LIMIT_WINDOW_SECONDS: "3",
    },
  });
  children.push(() => {
    void gateway.kill();
    rmSync(persistTo, { recursive: true, force: true });
  });
  await gateway.ready();

  const files = readdirSync("test/litellm").filter((name) => name.endsWith(".test.mjs")).map((name) => join("test/litellm", name));
  const tap = join(persistTo, "..", `litellm-${process.pid}.tap`);
  const tests = spawnSync(
    process.execPath,
    ["--test", "--test-reporter=spec", "--test-reporter-destination=stdout", "--test-reporter=tap", `--test-reporter-destination=${tap}`, ...files],
    { stdio: "inherit", env: { ...process.env, EDGE_URL: gateway.url, EDGE_MASTER_KEY: "sk-e2e-master" } },
  );
  stopAll();
  const report = existsSync(tap) ? readFileSync(tap, "utf8") : "";
  rmSync(tap, { force: true });
  const count = (name) => Number(new RegExp(`^# ${name} (\\d+)`, "m").exec(report)?.[1] ?? 0);
  const failed = count("fail") + count("cancelled") + (tests.status !== 0 && count("fail") === 0 ? 1 : 0);
  console.log(`litellm: ${count("pass")} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  stopAll();
  process.exit(1);
});
