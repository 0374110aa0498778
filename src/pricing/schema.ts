import { z } from "zod";

const usdPerToken = z.number().finite().min(0).max(1);

/**
 * LiteLLM's price fields, USD per token, so a LiteLLM `model_info` block can be pasted as is. The model name "*"
 * is the fallback for models neither listed nor in the price database. Cache prices left out cost the input price.
 */
export const modelPriceSchema = z.strictObject({
  input_cost_per_token: usdPerToken,
  output_cost_per_token: usdPerToken.default(0),
  cache_read_input_token_cost: usdPerToken.optional(),
  cache_creation_input_token_cost: usdPerToken.optional(),
  /** LiteLLM's name for Anthropic's 1-hour cache writes; left out, they cost cache_creation_input_token_cost. */
  cache_creation_input_token_cost_above_1hr: usdPerToken.optional(),
});
export const modelPricesSchema = z.record(z.string().min(1).max(256), modelPriceSchema);

export type ModelPrice = z.infer<typeof modelPriceSchema>;
export type ModelPrices = z.infer<typeof modelPricesSchema>;
