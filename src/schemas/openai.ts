import { z } from "zod";
import { modelName } from "./common";

const outputCap = z.number().int().min(0).max(10_000_000).nullable().optional();

/**
 * Only the fields the gateway reads are checked; every other field passes through to the upstream untouched,
 * so new OpenAI parameters work without a gateway release.
 */
export const chatCompletionRequestSchema = z.looseObject({
  model: modelName,
  messages: z.array(z.looseObject({ role: z.string().min(1).max(64) })).min(1).max(100_000),
  max_tokens: outputCap,
  max_completion_tokens: outputCap,
  n: z.number().int().min(1).max(128).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullable().optional() }).nullable().optional(),
  tools: z.array(z.unknown()).optional(),
  functions: z.array(z.unknown()).optional(),
});

export const completionRequestSchema = z.looseObject({
  model: modelName,
  prompt: z.union([z.string(), z.array(z.string()), z.array(z.number().int()), z.array(z.array(z.number().int()))]),
  max_tokens: outputCap,
  n: z.number().int().min(1).max(128).nullable().optional(),
  best_of: z.number().int().min(1).max(128).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullable().optional() }).nullable().optional(),
});

export const embeddingRequestSchema = z.looseObject({
  model: modelName,
  input: z.union([z.string(), z.array(z.string()).min(1), z.array(z.number().int()).min(1), z.array(z.array(z.number().int())).min(1)]),
});

export const responseRequestSchema = z.looseObject({
  model: modelName,
  input: z.union([z.string(), z.array(z.unknown())]),
  instructions: z.string().nullable().optional(),
  tools: z.array(z.unknown()).optional(),
  max_output_tokens: outputCap,
  stream: z.boolean().nullable().optional(),
});

/** Usage as chat/completions and embeddings report it (embeddings omit completion_tokens). */
export const completionUsageSchema = z.looseObject({
  prompt_tokens: z.number().int().min(0),
  completion_tokens: z.number().int().min(0).optional(),
  total_tokens: z.number().int().min(0).optional(),
});
/** Usage as the Responses API reports it. */
export const responsesUsageSchema = z.looseObject({
  input_tokens: z.number().int().min(0),
  output_tokens: z.number().int().min(0).optional(),
  total_tokens: z.number().int().min(0).optional(),
});
