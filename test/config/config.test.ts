import { describe, expect, it } from "vitest";
import { LOCAL_DEV_MASTER_KEY } from "../../src/config/config";
import { callWith } from "../helpers/with-env";

const generate = (master: string) => ({
  method: "POST",
  headers: { authorization: `Bearer ${master}`, "content-type": "application/json" },
  body: "{}",
});

describe("configuration", () => {
  it("accepts the documented dev master key under npm run dev when no MASTER_KEY is set", async () => {
    const response = await callWith({ MASTER_KEY: undefined, EDGEQUOTA_LOCAL_DEV: "true" }, "/key/generate", generate(LOCAL_DEV_MASTER_KEY));
    expect(response.status).toBe(200);
  });

  it("lets a configured MASTER_KEY replace the dev key locally", async () => {
    const vars = { MASTER_KEY: "sk-override", EDGEQUOTA_LOCAL_DEV: "true" };
    expect((await callWith(vars, "/key/generate", generate(LOCAL_DEV_MASTER_KEY))).status).toBe(401);
    expect((await callWith(vars, "/key/generate", generate("sk-override"))).status).toBe(200);
  });

  it("refuses management calls with 503 and says how to fix it when a deployed Worker has no MASTER_KEY", async () => {
    const response = await callWith({ MASTER_KEY: undefined, EDGEQUOTA_LOCAL_DEV: undefined }, "/key/generate", generate(LOCAL_DEV_MASTER_KEY));
    expect(response.status).toBe(503);
    const body = (await response.json()) as { error: { message: string; code: string } };
    expect(body.error.code).toBe("master_key_not_configured");
    expect(body.error.message).toContain("wrangler secret put MASTER_KEY");
  });

  it.each([
    ["RATE_LIMIT_WINDOW_SECONDS", "abc"],
    ["RATE_LIMIT_WINDOW_SECONDS", "0"],
    ["UPSTREAM_BASE_URL", "not a url"],
    ["UPSTREAM_TIMEOUT_MS", "-5"],
    ["MODEL_PRICES", "{not json"],
    ["MODEL_PRICES", '{"m": {"input_cost_per_token": "cheap"}}'],
    ["MAX_BODY_BYTES", "1.5"],
  ])("reports an invalid %s=%s clearly, naming the variable", async (name, value) => {
    const response = await callWith({ [name]: value }, "/health");
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: { message: string; code: string; type: string } };
    expect(body.error.code).toBe("invalid_configuration");
    expect(body.error.type).toBe("server_error");
    expect(body.error.message).toContain(name);
  });

  it("serves health with the embedded mock when UPSTREAM_BASE_URL is empty", async () => {
    const response = await callWith({ UPSTREAM_BASE_URL: "" }, "/health");
    expect(await response.json()).toEqual({ status: "ok", upstream: "embedded-mock" });
  });
});
