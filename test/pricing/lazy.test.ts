import { afterEach, describe, expect, it, vi } from "vitest";

/*
 * Each test imports price-of afresh (vi.resetModules) so its database starts unloaded, and counts evaluations of
 * the genai-prices module through a pass-through mock.
 */
let evaluations = 0;
let failNext = false;

async function freshPricing() {
  vi.resetModules();
  evaluations = 0;
  failNext = false;
  vi.doMock("@pydantic/genai-prices", async (importOriginal) => {
    evaluations++;
    if (failNext) {
      failNext = false;
      throw new Error("simulated import failure");
    }
    return importOriginal();
  });
  return import("../../src/pricing/price-of");
}

describe("loading the price database lazily", () => {
  afterEach(() => {
    vi.doUnmock("@pydantic/genai-prices");
  });

  it("does not load the database for an exact MODEL_PRICES hit", async () => {
    const { priceOf, isPriceDatabaseLoaded, MODEL_PRICES_SOURCE } = await freshPricing();
    const configured = { "gpt-4o": { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6 } };
    expect(isPriceDatabaseLoaded()).toBe(false);
    expect(await priceOf("gpt-4o", configured)).toEqual({ price: { input: 1000, output: 2000 }, source: MODEL_PRICES_SOURCE });
    expect(isPriceDatabaseLoaded()).toBe(false);
    expect(evaluations).toBe(0);
  });

  it("loads it once for database lookups, concurrent ones included", async () => {
    const { priceOf, isPriceDatabaseLoaded, DATABASE_SOURCE } = await freshPricing();
    const quotes = await Promise.all([priceOf("gpt-4o", {}), priceOf("claude-sonnet-4", {}), priceOf("no-such-model-xyz", {})]);
    expect(quotes.map((quote) => quote?.source ?? null)).toEqual([DATABASE_SOURCE, DATABASE_SOURCE, null]);
    expect(isPriceDatabaseLoaded()).toBe(true);
    expect((await priceOf("gpt-4o-mini", {}))?.source).toBe(DATABASE_SOURCE);
    expect(evaluations).toBe(1);
  });

  it("rejects while the import fails and retries it on the next call", async () => {
    const { priceOf, isPriceDatabaseLoaded, DATABASE_SOURCE } = await freshPricing();
    failNext = true;
    await expect(priceOf("gpt-4o", {})).rejects.toThrow();
    expect(isPriceDatabaseLoaded()).toBe(false);
    expect((await priceOf("gpt-4o", {}))?.source).toBe(DATABASE_SOURCE);
    expect(isPriceDatabaseLoaded()).toBe(true);
    expect(evaluations).toBe(2);
  });
});
