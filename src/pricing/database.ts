import type { calcPrice as CalcPrice, ModelPrice as DatabasePrice } from "@pydantic/genai-prices";
import type { Price } from "../limiter";
import { nanosPerToken } from "./nanos";

/**
 * The bundled package's version. Its package.json is not importable (its "exports" map hides it), so this constant
 * is held to node_modules by a test: bumping the package without bumping this fails the test suite.
 */
export const DATABASE_VERSION = "0.1.8";
export const DATABASE_SOURCE = `genai-prices@${DATABASE_VERSION}`;

const TOKENS_PER_MTOK = 1_000_000;
/** No priced model has a longer name; longer request names are not worth a scan of the database. */
const MAX_NAME_LENGTH = 256;

/*
 * The package's data is one big JS literal: evaluating it costs ~70 ms of CPU, which every isolate (the Worker and
 * each Durable Object run the same script) would pay at startup whether it prices anything or not. Behind a
 * dynamic import the bundler still inlines the package into the one Worker script but evaluates it only on the
 * first call of loadPriceDatabase, as src/tokens/tokenizer.ts does for the vocabularies.
 */
let calc: typeof CalcPrice | undefined;
let loading: Promise<void> | undefined;

/**
 * Makes databasePrice answer from then on. Idempotent and shared: concurrent callers await one import. A failed
 * import is forgotten so the next call retries.
 */
export function loadPriceDatabase(): Promise<void> {
  if (calc !== undefined) return Promise.resolve();
  loading ??= import("@pydantic/genai-prices").then(
    (module) => {
      calc = module.calcPrice;
      loading = undefined;
    },
    (error: unknown) => {
      loading = undefined;
      throw error;
    },
  );
  return loading;
}

/** Whether the database is evaluated in this isolate (databasePrice needs it). */
export function isPriceDatabaseLoaded(): boolean {
  return calc !== undefined;
}

/**
 * The database's per-token price of a model at `now`, or null when it has none. Names are resolved LiteLLM-style:
 * "anthropic/…", "azure/…", "bedrock/…", "vertex_ai/…" select that provider, dates in names are normalized, and a
 * bare name goes to the provider whose naming it follows, else to OpenAI (this is an OpenAI-compatible gateway and
 * OpenAI's embeddings and legacy names match no provider pattern). Throws unless loadPriceDatabase has resolved:
 * a null here would read as "no price", which a missing database is not.
 */
export function databasePrice(model: string, now: Date): Price | null {
  if (calc === undefined) throw new Error("price database not loaded: await loadPriceDatabase() first");
  if (model.length > MAX_NAME_LENGTH) return null;
  const found = lookUp(calc, model, "litellm", now) ?? (model.includes("/") ? null : lookUp(calc, model, "openai", now));
  return found ? toPrice(found) : null;
}

function lookUp(calcPrice: typeof CalcPrice, model: string, providerId: string, timestamp: Date): DatabasePrice | null {
  try {
    // genai-prices treats providerId "litellm" as "split a known provider prefix off the name, else match by name".
    return calcPrice({}, model, { providerId, timestamp })?.model_price ?? null;
  } catch {
    // The package validates its own data while pricing; a model it cannot price is one we do not know.
    return null;
  }
}

/**
 * Only per-token prices carry over; a model priced solely per image, second or request has no Price. Tiered prices
 * (Gemini, long-context Claude) use their base tier: Price is flat, and prompts under the threshold are the norm.
 */
function toPrice(prices: DatabasePrice): Price | null {
  const input = rate(prices["input_mtok"]);
  const output = rate(prices["output_mtok"]);
  if (input === undefined && output === undefined) return null;
  const cacheRead = rate(prices["cache_read_mtok"]);
  const cacheWrite = rate(prices["cache_write_mtok"]);
  const cacheWrite1h = rate(prices["cache_write_1h_mtok"]);
  const price: Price = {
    input: input ?? 0,
    output: output ?? 0,
    ...(cacheRead !== undefined && { cacheRead }),
    ...(cacheWrite !== undefined && { cacheWrite }),
    ...(cacheWrite1h !== undefined && { cacheWrite1h }),
  };
  // A NaN or negative price would let spend through unmetered; distrust the whole entry instead.
  return Object.values(price).every((nanos) => Number.isFinite(nanos) && nanos >= 0) ? price : null;
}

/** Nano-dollars per token, or undefined when the database gives no such price. */
function rate(value: DatabasePrice[string]): number | undefined {
  if (value === undefined) return undefined;
  return nanosPerToken(typeof value === "number" ? value : value.base, TOKENS_PER_MTOK);
}
