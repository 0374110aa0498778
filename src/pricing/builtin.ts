import type { ModelPrices } from "./schema";

/**
 * Public list prices (USD per token) of common models, so budgets work without configuration.
 * MODEL_PRICES overrides or extends these; when LiteLLM is the upstream its per-call cost header wins anyway.
 */
export const BUILTIN_PRICES: ModelPrices = {
  "gpt-4o": { input_cost_per_token: 2.5e-6, output_cost_per_token: 1e-5 },
  "gpt-4o-mini": { input_cost_per_token: 1.5e-7, output_cost_per_token: 6e-7 },
  "gpt-4.1": { input_cost_per_token: 2e-6, output_cost_per_token: 8e-6 },
  "gpt-4.1-mini": { input_cost_per_token: 4e-7, output_cost_per_token: 1.6e-6 },
  "gpt-4.1-nano": { input_cost_per_token: 1e-7, output_cost_per_token: 4e-7 },
  "gpt-4-turbo": { input_cost_per_token: 1e-5, output_cost_per_token: 3e-5 },
  "gpt-3.5-turbo": { input_cost_per_token: 5e-7, output_cost_per_token: 1.5e-6 },
  "o1": { input_cost_per_token: 1.5e-5, output_cost_per_token: 6e-5 },
  "o3": { input_cost_per_token: 2e-6, output_cost_per_token: 8e-6 },
  "o3-mini": { input_cost_per_token: 1.1e-6, output_cost_per_token: 4.4e-6 },
  "o4-mini": { input_cost_per_token: 1.1e-6, output_cost_per_token: 4.4e-6 },
  "text-embedding-3-small": { input_cost_per_token: 2e-8, output_cost_per_token: 0 },
  "text-embedding-3-large": { input_cost_per_token: 1.3e-7, output_cost_per_token: 0 },
  "text-embedding-ada-002": { input_cost_per_token: 1e-7, output_cost_per_token: 0 },
  "claude-3-5-haiku-latest": { input_cost_per_token: 8e-7, output_cost_per_token: 4e-6 },
  "claude-3-5-sonnet-latest": { input_cost_per_token: 3e-6, output_cost_per_token: 1.5e-5 },
  "claude-sonnet-4-20250514": { input_cost_per_token: 3e-6, output_cost_per_token: 1.5e-5 },
  "claude-opus-4-20250514": { input_cost_per_token: 1.5e-5, output_cost_per_token: 7.5e-5 },
  "gemini-2.0-flash": { input_cost_per_token: 1e-7, output_cost_per_token: 4e-7 },
  "gemini-2.5-pro": { input_cost_per_token: 1.25e-6, output_cost_per_token: 1e-5 },
};
