// Runs the real Worker under `wrangler dev` for end-to-end tests: own port, inspector port and --persist-to
// folder, killed as a whole process group (a hard kill, like a crash) when asked or when the test ends.
import { spawn } from "node:child_process";

/**
 * `config`: another wrangler config (a front door reaching the authority's objects through `script_name`);
 * `registry`: the dev registry folder that processes sharing objects must have in common.
 */
export function startWrangler({ port, inspectorPort, persistTo, vars, config, registry }) {
  const args = ["wrangler", "dev", "--port", String(port), "--inspector-port", String(inspectorPort), "--persist-to", persistTo, "--log-level", "error"];
  if (config) args.push("-c", config);
  for (const [name, value] of Object.entries(vars)) args.push("--var", `${name}:${value}`);
  const child = spawn("npx", args, {
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", ...(registry ? { WRANGLER_REGISTRY_PATH: registry } : {}) },
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    async ready(timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        try {
          if ((await fetch(`${url}/health`)).ok) return;
        } catch {
          // not up yet
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      throw new Error(`wrangler dev did not start:\n${stderr}`);
    },
    /** SIGKILL the whole group: no graceful shutdown, exactly like a crash. */
    async kill() {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        return;
      }
      await new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once("exit", resolve);
      });
    },
  };
}
