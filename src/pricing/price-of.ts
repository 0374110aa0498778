import type { Price } from "../limiter";
import { DATABASE_SOURCE, databasePrice, isPriceDatabaseLoaded, loadPriceDatabase } from "./database";
import { memoize } from "./memo";
import { nanosPerToken } from "./nanos";
import type { ModelPrice, ModelPrices } from "./schema";

export interface PriceQuote {
  readonly price: Price;
  /** Where the price came from, shown in the spend log: MODEL_PRICES_SOURCE or DATABASE_SOURCE. */
  readonly source: string;
}

export const MODEL_PRICES_SOURCE = "model_prices";
export { DATABASE_SOURCE, isPriceDatabaseLoaded };

/** Resolving a name scans the database's match rules; a request should pay that once a minute per model at most. */
const fromDatabase = memoize(
  (model: string, now: number): PriceQuote | null => {
    const price = databasePrice(model, new Date(now));
    return price && { price, source: DATABASE_SOURCE };
  },
  { capacity: 512, ttlMs: 60_000 },
);

/**
 * The per-token price of a model in nano-dollars and where it came from, or null when unknown. In order: MODEL_PRICES
 * for the exact name (the operator's word beats the database), the price database (which understands provider
 * prefixes), then for "provider/model" names MODEL_PRICES and the database for the bare model, and last
 * MODEL_PRICES["*"]. An exact MODEL_PRICES hit never loads the database; anything else loads it once per isolate
 * (see loadPriceDatabase) and rejects if that import fails, rather than pass a priced model off as unpriced.
 */
export async function priceOf(model: string, configured: ModelPrices): Promise<PriceQuote | null> {
  const exact = fromConfigured(configured, model);
  if (exact) return exact;
  if (!isPriceDatabaseLoaded()) await loadPriceDatabase();
  const now = Date.now();
  const bare = model.includes("/") ? model.slice(model.lastIndexOf("/") + 1) : "";
  return (
    fromDatabase(model, now) ??
    (bare ? (fromConfigured(configured, bare) ?? fromDatabase(bare, now)) : null) ??
    fromConfigured(configured, "*")
  );
}

function fromConfigured(configured: ModelPrices, name: string): PriceQuote | null {
  // Own keys only: a model named "constructor" must not find Object.prototype's.
  const entry = Object.hasOwn(configured, name) ? configured[name] : undefined;
  return entry ? { price: toPrice(entry), source: MODEL_PRICES_SOURCE } : null;
}

function toPrice(entry: ModelPrice): Price {
  return {
    input: nanosPerToken(entry.input_cost_per_token),
    output: nanosPerToken(entry.output_cost_per_token),
    ...optional("cacheRead", entry.cache_read_input_token_cost),
    ...optional("cacheWrite", entry.cache_creation_input_token_cost),
    ...optional("cacheWrite1h", entry.cache_creation_input_token_cost_above_1hr),
  };
}

function optional<K extends "cacheRead" | "cacheWrite" | "cacheWrite1h">(key: K, usd: number | undefined) {
  return usd === undefined ? {} : ({ [key]: nanosPerToken(usd) } as { [P in K]: number });
}
