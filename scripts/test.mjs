#!/usr/bin/env node
// npm test: the vitest suite (inside workerd), then the end-to-end tests that need real processes
// (node:test against `wrangler dev`). Extra arguments go to vitest. Ends with one line "N passed, N failed".
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const work = mkdtempSync(join(tmpdir(), "edgequota-test-"));
const vitestReport = join(work, "vitest.json");
const e2eReport = join(work, "e2e.tap");
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };

const vitest = spawnSync(
  "npx",
  ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${vitestReport}`, ...process.argv.slice(2)],
  { stdio: "inherit", env },
);
let passed = 0;
let failed = 0;
try {
  const report = JSON.parse(readFileSync(vitestReport, "utf8"));
  passed += report.numPassedTests;
  failed += report.numFailedTests + (report.numRuntimeErrorTestSuites ?? 0);
} catch {
  failed += 1; // vitest did not even produce a report
}
if (vitest.status !== 0 && failed === 0) failed += 1;

// End-to-end files only run for a whole-suite run (no vitest filter given).
const e2eFiles = process.argv.length > 2 ? [] : readdirSync("test/e2e").filter((name) => name.endsWith(".e2e.mjs")).map((name) => join("test/e2e", name));
if (e2eFiles.length > 0) {
  const e2e = spawnSync(
    process.execPath,
    ["--test", "--test-reporter=spec", "--test-reporter-destination=stdout", "--test-reporter=tap", `--test-reporter-destination=${e2eReport}`, ...e2eFiles],
    { stdio: "inherit", env },
  );
  const tap = (() => {
    try {
      return readFileSync(e2eReport, "utf8");
    } catch {
      return "";
    }
  })();
  const count = (name) => Number(new RegExp(`^# ${name} (\\d+)`, "m").exec(tap)?.[1] ?? 0);
  passed += count("pass");
  failed += count("fail") + count("cancelled");
  if (e2e.status !== 0 && count("fail") + count("cancelled") === 0) failed += 1;
}

rmSync(work, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
