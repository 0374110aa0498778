import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [
    cloudflareTest({
      main: "./test/worker.ts",
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          MASTER_KEY: "sk-test-master",
          // Deployments the tests route to: "" is the embedded mock; *.test hosts are answered by fetch spies.
          DEPLOYMENTS: JSON.stringify({
            "pooled-model": [
              { id: "pool-a", base_url: "", model: "gpt-4o-mini", tpm: 2000 },
              { id: "pool-b", base_url: "", model: "gpt-4o-mini", tpm: 1000 },
            ],
            "shared-model": [{ id: "shared-1", base_url: "", model: "gpt-4o-mini", tpm: 3000, rpm: 40 }],
            "failover-model": [
              { id: "failover-a", base_url: "http://failover-a.test/v1", api_key_secret: "FAILOVER_A_KEY", model: "upstream-a" },
              { id: "failover-b", base_url: "http://failover-b.test/v1", api_key_secret: "FAILOVER_B_KEY", model: "upstream-b" },
              { id: "failover-c", base_url: "http://failover-c.test/v1", model: "upstream-c" },
            ],
            // Anthropic's own API (answered by fetch spies): x-api-key and anthropic-version, Messages calls only.
            "claude-direct": [
              { id: "anthropic-direct", api: "anthropic", base_url: "http://anthropic.test", api_key_secret: "ANTHROPIC_DIRECT_KEY", model: "claude-sonnet-4-20250514" },
            ],
            // Provider-faithful counting on the embedded mock: Anthropic's ITPM/OTPM, OpenAI's request-time TPM.
            "claude-itpm": [{ id: "claude-itpm-1", api: "anthropic", base_url: "", model: "claude-sonnet-4-20250514", itpm: 3000, otpm: 400 }],
            "claude-itpm-reads": [
              { id: "claude-itpm-reads-1", api: "anthropic", base_url: "", model: "claude-sonnet-4-20250514", itpm: 3000, itpm_counts_cache_reads: true },
            ],
            "openai-request-time": [{ id: "openai-request-time-1", base_url: "", model: "gpt-4o-mini", tpm: 1000, tpm_counting: "request_time" }],
          }),
          // Most tests check each call's accounting at its owner the moment it ends: leases (which batch that) are
          // switched on by the tests that exercise them (test/leases).
          LEASES: "off",
          ANTHROPIC_DIRECT_KEY: "sk-ant-deployment-secret",
          FAILOVER_A_KEY: "sk-deployment-a",
          FAILOVER_B_KEY: "sk-deployment-b",
        },
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    // Every proxied call logs one structured line for Workers Logs; in the suite they would drown real output.
    onConsoleLog: (log) => !log.includes('"event":"edgequota.call"') && !log.includes("ALERT_WEBHOOK_URL is not set"),
    testTimeout: 30_000,
  },
});
