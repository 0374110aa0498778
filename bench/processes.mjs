// Starts and stops the local topology: one authority (bench/wrangler.toml, owns every Durable Object) and N
// front doors (bench/wrangler.frontdoor.toml, reaching the authority's objects through the dev registry). Every process
// gets its own port, inspector port and --persist-to folder, all under one temporary folder that also holds
// the registry; everything is killed and removed on exit, also on failure or Ctrl-C.
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = mkdtempSync(join(tmpdir(), "edgequota-bench-"));
// wrangler dev reloads the Worker when its sources change; run a snapshot of them so that editing the
// repository during a benchmark cannot restart the processes mid-measurement.
const app = join(root, "app");
const repo = process.cwd();
for (const entry of ["src", "bench/worker", "bench/wrangler.toml", "bench/wrangler.frontdoor.toml", "package.json", "tsconfig.json"]) cpSync(join(repo, entry), join(app, entry), { recursive: true });
symlinkSync(join(repo, "node_modules"), join(app, "node_modules"));
const children = [];
/** Each topology gets its own registry and state folders, so a second one never sees the first's processes. */
let generation = 0;

function killAll() {
  for (const child of children) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  children.length = 0;
}

function cleanup() {
  killAll();
  rmSync(root, { recursive: true, force: true });
}
process.on("exit", cleanup);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    cleanup();
    process.exit(130);
  });
}

const BASE_PORT = 9200;
const BASE_INSPECTOR = 9400;

function start(name, config, index, vars) {
  const port = BASE_PORT + index;
  const args = [
    "wrangler", "dev", "-c", config,
    "--port", String(port), "--inspector-port", String(BASE_INSPECTOR + index),
    "--persist-to", join(root, `state-${generation}-${name}`),
    "--log-level", "error",
    ...Object.entries(vars).flatMap(([key, value]) => ["--var", `${key}:${value}`]),
  ];
  const child = spawn(join(repo, "node_modules", ".bin", "wrangler"), args.slice(1), {
    cwd: app,
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
    env: {
      ...process.env,
      WRANGLER_REGISTRY_PATH: join(root, `registry-${generation}`),
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      WRANGLER_SEND_METRICS: "false",
    },
  });
  let errors = "";
  child.stderr.on("data", (chunk) => {
    errors = (errors + chunk).slice(-4000);
  });
  children.push(child);
  return { name, url: `http://127.0.0.1:${port}`, pid: child.pid, errors: () => errors };
}

async function waitReady(process, deadlineMs) {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${process.url}/health`);
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${process.name} did not start within ${deadlineMs} ms:\n${process.errors()}`);
}

/**
 * Starts the authority and `frontDoors` front doors; resolves once all answer /health. `authorityVars` go to the
 * authority only (what its objects read, e.g. BENCH_OBJECT_SERVICE_MS), on top of `vars`.
 */
let startedVars = {};

export async function startTopology(frontDoors, vars, authorityVars = {}) {
  startedVars = vars;
  const authority = start("authority", "bench/wrangler.toml", 0, { ...vars, ...authorityVars });
  await waitReady(authority, 90_000);
  const doors = [];
  for (let index = 1; index <= frontDoors; index++) doors.push(start(`frontdoor-${index}`, "bench/wrangler.frontdoor.toml", index, vars));
  await Promise.all(doors.map((door) => waitReady(door, 90_000)));
  return { authority, frontDoors: doors };
}

export function stopAll() {
  cleanup();
}

/** Stops the running topology's processes but keeps the sources, so another topology can start after it. */
export async function stopTopology() {
  killAll();
  generation++;
  // Let the ports and inspector ports close before they are bound again.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
}

/** Starts one more front door (index beyond the topology's), e.g. to cause a dev registry change. */
export async function startExtraFrontDoor(index) {
  const door = start(`frontdoor-${index}`, "bench/wrangler.frontdoor.toml", index, startedVars);
  await waitReady(door, 90_000);
  return door;
}
