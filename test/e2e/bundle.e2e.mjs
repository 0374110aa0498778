// The production bundle holds only the product: `wrangler deploy --dry-run` builds what would be deployed,
// and neither the benchmark's routes nor the test clock nor the bench-only storage report may be in it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { after, test } from "node:test";

const out = mkdtempSync(join(tmpdir(), "edgequota-bundle-"));
after(() => rmSync(out, { recursive: true, force: true }));

function build(config) {
  const result = spawnSync("npx", ["wrangler", "deploy", "--dry-run", "-c", config, "--outdir", join(out, config.replace(/\W/g, "-"))], {
    encoding: "utf8",
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
    timeout: 120_000,
  });
  assert.equal(result.status, 0, `wrangler deploy --dry-run failed:\n${result.stdout}\n${result.stderr}`);
  const dir = join(out, config.replace(/\W/g, "-"));
  return readdirSync(dir).filter((name) => name.endsWith(".js")).map((name) => readFileSync(join(dir, name), "utf8")).join("\n");
}

// Strings only the benchmark entry and the test entry contain: among them the leases benchmark's simulated
// distance to the objects and modelled object capacity, which must never reach a deployment.
const BENCH_ONLY = [
  "/bench/admissions", "/bench/plain/", "/bench/local/", "/bench/object-calls", "databaseBytes", "Replica-local limit exceeded",
  "BENCH_OBJECT_DELAY_MS", "BENCH_OBJECT_SERVICE_MS",
];
const TEST_ONLY = ["clockOffsetMs"];

test("the production bundle has no benchmark route, no storage report and no test clock", () => {
  const bundle = build("wrangler.toml");
  for (const marker of [...BENCH_ONLY, ...TEST_ONLY]) assert.ok(!bundle.includes(marker), `production bundle contains ${marker}`);
  // It does hold the product: the proxy route and the objects.
  for (const marker of ["/chat/completions", "KeyObject", "DeploymentObject"]) assert.ok(bundle.includes(marker), `production bundle lacks ${marker}`);
  console.log(`production bundle: ${bundle.length} bytes, ${gzipSync(bundle).length} bytes gzip`);
});

test("the benchmark bundle does have the benchmark routes (the markers above are real)", () => {
  const bundle = build("bench/wrangler.toml");
  for (const marker of BENCH_ONLY) assert.ok(bundle.includes(marker), `benchmark bundle lacks ${marker}`);
});
