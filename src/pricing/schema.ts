import { z } from "zod";

const usdPerToken = z.number().finite().min(0).max(1);

/** LiteLLM's price fields, USD per token. The model name "*" is the fallback for models not listed. */
export const modelPriceSchema = z.strictObject({
  input_cost_per_token: usdPerToken,
  output_cost_per_token: usdPerToken.default(0),
});
export const modelPricesSchema = z.record(z.string().min(1).max(256), modelPriceSchema);

export type ModelPrice = z.infer<typeof modelPriceSchema>;
export type ModelPrices = z.infer<typeof modelPricesSchema>;
