import { z } from "zod";
import { modelName } from "./common";

/**
 * Anthropic's Messages API: only the fields the gateway reads are checked (model, the output cap, the parts
 * that make up the prompt, stream); every other field, new ones included, passes through untouched.
 */
const messages = z.array(z.looseObject({ role: z.string().min(1).max(64) })).min(1).max(100_000);
const system = z.union([z.string(), z.array(z.unknown())]).optional();
const tools = z.array(z.unknown()).optional();

export const messagesRequestSchema = z.looseObject({
  model: modelName,
  /** Required by the API; extended thinking's budget_tokens is part of it, so it bounds all the output. */
  max_tokens: z.number().int().min(1).max(10_000_000),
  messages,
  system,
  tools,
  stream: z.boolean().optional(),
  metadata: z.looseObject({ user_id: z.string().max(512).nullable().optional() }).nullable().optional(),
});

/** count_tokens takes the same prompt without an output cap; it is answered upstream and costs nothing. */
export const countTokensRequestSchema = z.looseObject({ model: modelName, messages, system, tools });

export type MessagesRequest = z.infer<typeof messagesRequestSchema>;
