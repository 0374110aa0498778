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
          }),
          FAILOVER_A_KEY: "sk-deployment-a",
          FAILOVER_B_KEY: "sk-deployment-b",
        },
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
  },
});
