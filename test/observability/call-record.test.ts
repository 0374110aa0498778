import { afterEach, describe, expect, it, vi } from "vitest";
import { BLOBS, columnOf, dataPoint, DOUBLES, INDEXES, logLine, type CallRecord } from "../../src/observability/call-record";
import { writeRecord } from "../../src/observability/observer";

afterEach(() => vi.restoreAllMocks());

const TOKEN = "a".repeat(64);

const SETTLED: CallRecord = {
  token: TOKEN,
  team_id: "research",
  end_user: "alice@example.com",
  model: "gpt-4o-mini",
  deployment: "pool-a",
  endpoint: "/chat/completions",
  dialect: "openai",
  outcome: "settled",
  status: 200,
  reason: null,
  prompt_tokens: 120,
  completion_tokens: 30,
  cache_read_tokens: 64,
  cache_write_tokens: 0,
  cost_usd: 0.0000362,
  price_source: "genai-prices@0.1.8",
  queue_ms: 250,
  latency_ms: 812,
  stream: false,
  request_id: "4f6c2f1e-6a4e-4d8b-9a53-0d3d1c3b2a10",
};

const REFUSED: CallRecord = {
  ...SETTLED,
  team_id: null,
  end_user: null,
  deployment: null,
  outcome: "refused",
  status: 429,
  reason: "key:tpm_limit",
  prompt_tokens: 0,
  completion_tokens: 0,
  cache_read_tokens: 0,
  cost_usd: 0,
  price_source: null,
  queue_ms: 0,
  latency_ms: 4,
};

const STREAMED: CallRecord = {
  ...SETTLED,
  endpoint: "/messages",
  dialect: "anthropic",
  model: "claude-sonnet-4-20250514",
  deployment: null,
  stream: true,
  cache_write_tokens: 900,
  latency_ms: 5321,
};

describe("the data point of a call", () => {
  it("has a fixed layout: index1 = token, blob1..blob10, double1..double9", () => {
    expect(INDEXES).toEqual(["token"]);
    expect(BLOBS).toEqual(["team_id", "model", "deployment", "endpoint", "outcome", "reason", "end_user", "dialect", "price_source", "request_id"]);
    expect(DOUBLES).toEqual([
      "status",
      "prompt_tokens",
      "completion_tokens",
      "cache_read_tokens",
      "cache_write_tokens",
      "cost_usd",
      "queue_ms",
      "latency_ms",
      "stream",
    ]);
    expect(columnOf("token")).toBe("index1");
    expect(columnOf("team_id")).toBe("blob1");
    expect(columnOf("request_id")).toBe("blob10");
    expect(columnOf("cost_usd")).toBe("double6");
    expect(columnOf("stream")).toBe("double9");
    // Within Analytics Engine's limits: one index (at most 96 bytes), at most 20 blobs and 20 doubles.
    expect(BLOBS.length).toBeLessThanOrEqual(20);
    expect(DOUBLES.length).toBeLessThanOrEqual(20);
  });

  it("of a settled call", () => {
    expect(dataPoint(SETTLED)).toEqual({
      indexes: [TOKEN],
      blobs: [
        "research",
        "gpt-4o-mini",
        "pool-a",
        "/chat/completions",
        "settled",
        "",
        "alice@example.com",
        "openai",
        "genai-prices@0.1.8",
        "4f6c2f1e-6a4e-4d8b-9a53-0d3d1c3b2a10",
      ],
      doubles: [200, 120, 30, 64, 0, 0.0000362, 250, 812, 0],
    });
    expect(new TextEncoder().encode(dataPoint(SETTLED).indexes![0] as string).byteLength).toBeLessThanOrEqual(96);
  });

  it("of a refused call: empty strings for what it never had, zero usage", () => {
    expect(dataPoint(REFUSED)).toEqual({
      indexes: [TOKEN],
      blobs: ["", "gpt-4o-mini", "", "/chat/completions", "refused", "key:tpm_limit", "", "openai", "", "4f6c2f1e-6a4e-4d8b-9a53-0d3d1c3b2a10"],
      doubles: [429, 0, 0, 0, 0, 0, 0, 4, 0],
    });
  });

  it("of a streamed call: double9 is 1", () => {
    expect(dataPoint(STREAMED)).toEqual({
      indexes: [TOKEN],
      blobs: [
        "research",
        "claude-sonnet-4-20250514",
        "",
        "/messages",
        "settled",
        "",
        "alice@example.com",
        "anthropic",
        "genai-prices@0.1.8",
        "4f6c2f1e-6a4e-4d8b-9a53-0d3d1c3b2a10",
      ],
      doubles: [200, 120, 30, 64, 900, 0.0000362, 250, 5321, 1],
    });
  });

  it("never writes a NaN or an infinity", () => {
    const point = dataPoint({ ...SETTLED, cost_usd: Number.NaN, latency_ms: Number.POSITIVE_INFINITY });
    expect(point.doubles).toEqual([200, 120, 30, 64, 0, 0, 250, 0, 0]);
  });
});

describe("the log line of a call", () => {
  it("is one JSON object with every field of the record", () => {
    const line = logLine(SETTLED);
    expect(line).not.toContain("\n");
    expect(JSON.parse(line)).toEqual({ event: "edgequota.call", ...SETTLED });
  });
});

describe("writing a record", () => {
  it("writes one data point and one log line", () => {
    const writeDataPoint = vi.fn();
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    writeRecord({ writeDataPoint }, SETTLED);
    expect(writeDataPoint).toHaveBeenCalledTimes(1);
    expect(writeDataPoint).toHaveBeenCalledWith(dataPoint(SETTLED));
    expect(log).toHaveBeenCalledTimes(1);
    expect(log).toHaveBeenCalledWith(logLine(SETTLED));
  });

  it("without the binding, only logs", () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    writeRecord(undefined, SETTLED);
    expect(log).toHaveBeenCalledWith(logLine(SETTLED));
  });

  it("survives a binding that throws: logged, not thrown", () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const writeDataPoint = vi.fn(() => {
      throw new Error("dataset unavailable");
    });
    expect(() => writeRecord({ writeDataPoint }, SETTLED)).not.toThrow();
    expect(error).toHaveBeenCalledWith("analytics data point not written:", "dataset unavailable");
    expect(log).toHaveBeenCalledWith(logLine(SETTLED));
  });
});
