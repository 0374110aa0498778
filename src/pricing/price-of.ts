import { NANOS_PER_USD, type Price } from "../limiter";
import { BUILTIN_PRICES } from "./builtin";
import type { ModelPrice, ModelPrices } from "./schema";

/**
 * The per-token price of a model in nano-dollars, or null when unknown. Configured prices beat built-in ones;
 * "provider/model" names (LiteLLM style) fall back to the bare model; "*" in MODEL_PRICES is the last resort.
 */
export function priceOf(model: string, configured: ModelPrices): Price | null {
  const bare = model.includes("/") ? model.slice(model.lastIndexOf("/") + 1) : null;
  const found =
    configured[model] ??
    BUILTIN_PRICES[model] ??
    (bare !== null ? (configured[bare] ?? BUILTIN_PRICES[bare]) : undefined) ??
    configured["*"];
  return found ? toNanos(found) : null;
}

function toNanos(price: ModelPrice): Price {
  return { input: price.input_cost_per_token * NANOS_PER_USD, output: price.output_cost_per_token * NANOS_PER_USD };
}
