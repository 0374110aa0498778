import { calcPrice } from "@pydantic/genai-prices";
import { describe, expect, it } from "vitest";
import { DATABASE_SOURCE, MODEL_PRICES_SOURCE, priceOf, type PriceQuote } from "../../src/pricing/price-of";
import { modelPricesSchema } from "../../src/pricing/schema";

/** The package's own price of a model, in USD per million tokens: absolute numbers move with package updates. */
function published(model: string, providerId: string): Record<string, number> {
  const found = calcPrice({}, model, { providerId });
  if (!found) throw new Error(`genai-prices has no ${providerId} ${model}`);
  return Object.fromEntries(
    Object.entries(found.model_price).map(([key, value]) => [key, typeof value === "object" ? value.base : value!]),
  );
}

/** USD per million tokens as nano-dollars per token. */
const nanos = (usdPerMtok: number | undefined) => (usdPerMtok === undefined ? undefined : usdPerMtok * 1000);

async function quote(model: string, configured = {}): Promise<PriceQuote> {
  const found = await priceOf(model, configured);
  if (!found) throw new Error(`no price for ${model}`);
  return found;
}

describe("prices from the genai-prices database", () => {
  it("prices gpt-4o and gpt-4o-mini as published, with OpenAI's cached input at half the input price", async () => {
    for (const model of ["gpt-4o", "gpt-4o-mini"]) {
      const { price, source } = await quote(model);
      const expected = published(model, "openai");
      expect(source).toBe(DATABASE_SOURCE);
      expect(price.input).toBeCloseTo(nanos(expected["input_mtok"])!, 9);
      expect(price.output).toBeCloseTo(nanos(expected["output_mtok"])!, 9);
      expect(price.cacheRead).toBeCloseTo(price.input * 0.5, 9);
      // OpenAI does not charge for cache writes: they cost the input price.
      expect(price.cacheWrite).toBeUndefined();
    }
  });

  it("prices Anthropic cache reads at 0.1x, 5-minute writes at 1.25x and 1-hour writes at 2x the input price", async () => {
    for (const model of ["claude-sonnet-4-20250514", "claude-3-5-haiku-latest"]) {
      const { price } = await quote(model);
      const expected = published(model, "anthropic");
      expect(price.input).toBeCloseTo(nanos(expected["input_mtok"])!, 9);
      expect(price.output).toBeCloseTo(nanos(expected["output_mtok"])!, 9);
      expect(price.cacheRead).toBeCloseTo(price.input * 0.1, 9);
      expect(price.cacheWrite).toBeCloseTo(price.input * 1.25, 9);
      expect(price.cacheWrite1h).toBeCloseTo(price.input * 2, 9);
    }
  });

  it("gives dated, undated and -latest names of one model the same price", async () => {
    expect((await quote("claude-sonnet-4")).price).toEqual((await quote("claude-sonnet-4-20250514")).price);
    expect((await quote("claude-3-5-haiku-20241022")).price).toEqual((await quote("claude-3-5-haiku-latest")).price);
    expect((await quote("gpt-4o-2024-08-06")).price).toEqual((await quote("gpt-4o")).price);
  });

  it("resolves LiteLLM provider prefixes: anthropic/, openai/, azure/", async () => {
    expect(await quote("anthropic/claude-sonnet-4-20250514")).toEqual(await quote("claude-sonnet-4-20250514"));
    expect(await quote("anthropic/claude-3-5-haiku-latest")).toEqual(await quote("claude-3-5-haiku-latest"));
    expect(await quote("openai/gpt-4o")).toEqual(await quote("gpt-4o"));
    expect((await quote("azure/gpt-4o")).price).toEqual((await quote("gpt-4o")).price);
  });

  it("resolves Bedrock model ids, with and without a cross-region prefix, with Anthropic's cache ratios", async () => {
    for (const model of ["bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0"]) {
      const { price, source } = await quote(model);
      expect(source).toBe(DATABASE_SOURCE);
      expect(price.input).toBeGreaterThan(0);
      expect(price.cacheRead).toBeCloseTo(price.input * 0.1, 9);
      expect(price.cacheWrite).toBeCloseTo(price.input * 1.25, 9);
    }
  });

  it("prices a model behind an unknown provider prefix by its bare name", async () => {
    expect((await quote("azure_ai/gpt-4o")).price).toEqual((await quote("gpt-4o")).price);
  });

  it("takes bare names no provider pattern claims as OpenAI's (embeddings), with output free", async () => {
    const { price } = await quote("text-embedding-3-small");
    expect(price.input).toBeCloseTo(nanos(published("text-embedding-3-small", "openai")["input_mtok"])!, 9);
    expect(price.output).toBe(0);
  });

  it("has no price for a model the database prices only per audio hour", async () => {
    expect(await priceOf("whisper-1", {})).toBeNull();
  });

  it("has no price for an unknown model, nor for names of Object.prototype's members", async () => {
    expect(await priceOf("no-such-model-xyz", {})).toBeNull();
    expect(await priceOf("vendor/no-such-model-xyz", {})).toBeNull();
    expect(await priceOf("constructor", {})).toBeNull();
    expect(await priceOf("toString", {})).toBeNull();
  });

  it("answers the same quote again from its cache", async () => {
    expect(await priceOf("gpt-4o", {})).toBe(await priceOf("gpt-4o", {}));
  });
});

describe("MODEL_PRICES", () => {
  const configured = modelPricesSchema.parse({
    "gpt-4o": { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6 },
    "my-model": {
      input_cost_per_token: 3e-6,
      output_cost_per_token: 1.5e-5,
      cache_read_input_token_cost: 3e-7,
      cache_creation_input_token_cost: 3.75e-6,
      cache_creation_input_token_cost_above_1hr: 6e-6,
    },
  });

  it("overrides the database for the exact name and reports source model_prices", async () => {
    expect(await priceOf("gpt-4o", configured)).toEqual({ price: { input: 1000, output: 2000 }, source: MODEL_PRICES_SOURCE });
    expect(MODEL_PRICES_SOURCE).toBe("model_prices");
  });

  it("converts LiteLLM cache fields to exact nano-dollar cache prices", async () => {
    expect((await quote("my-model", configured)).price).toEqual({
      input: 3000,
      output: 15000,
      cacheRead: 300,
      cacheWrite: 3750,
      cacheWrite1h: 6000,
    });
  });

  it("prices a provider-prefixed name by its bare name when the database does not know it", async () => {
    expect(await quote("hosted_vllm/my-model", configured)).toEqual(await quote("my-model", configured));
  });

  it("lets the database's provider-prefixed price come before a bare-name override", async () => {
    expect((await quote("openai/gpt-4o", configured)).source).toBe(DATABASE_SOURCE);
  });

  it("falls back to \"*\" for models neither configured nor in the database, and only for those", async () => {
    const withFallback = modelPricesSchema.parse({ "*": { input_cost_per_token: 5e-6 } });
    expect(await priceOf("no-such-model-xyz", withFallback)).toEqual({ price: { input: 5000, output: 0 }, source: MODEL_PRICES_SOURCE });
    expect((await quote("gpt-4o", withFallback)).source).toBe(DATABASE_SOURCE);
  });
});

describe("the MODEL_PRICES schema", () => {
  it("accepts LiteLLM's cache fields and defaults the output price to 0", () => {
    const parsed = modelPricesSchema.parse({
      m: { input_cost_per_token: 1e-6, cache_read_input_token_cost: 1e-7, cache_creation_input_token_cost: 1.25e-6, cache_creation_input_token_cost_above_1hr: 2e-6 },
    });
    expect(parsed["m"]).toEqual({
      input_cost_per_token: 1e-6,
      output_cost_per_token: 0,
      cache_read_input_token_cost: 1e-7,
      cache_creation_input_token_cost: 1.25e-6,
      cache_creation_input_token_cost_above_1hr: 2e-6,
    });
  });

  it("rejects unknown fields", () => {
    expect(modelPricesSchema.safeParse({ m: { input_cost_per_token: 1e-6, input_cost_per_audio_token: 1e-6 } }).success).toBe(false);
  });

  it("rejects negative, non-finite and implausibly large prices, and a missing input price", () => {
    for (const bad of [
      { input_cost_per_token: -1e-6 },
      { input_cost_per_token: 1e-6, cache_read_input_token_cost: -1e-7 },
      { input_cost_per_token: 1e-6, cache_creation_input_token_cost_above_1hr: Number.POSITIVE_INFINITY },
      { input_cost_per_token: 2 },
      { output_cost_per_token: 1e-6 },
    ]) {
      expect(modelPricesSchema.safeParse({ m: bad }).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
