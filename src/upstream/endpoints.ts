import { z } from "zod";
import { modelName } from "../schemas/common";
import { chatCompletionRequestSchema } from "../schemas/openai";
import { promptUpperBound } from "./estimate";

/**
 * What the gateway must know about each OpenAI endpoint: how to validate the few fields it reads, how to bound
 * the prompt, and the output cap. Everything else about a request passes through untouched.
 */
export interface Endpoint<S extends z.ZodType<{ model: string }>> {
  /** Path without the /v1 prefix; both spellings are served. */
  readonly path: string;
  readonly schema: S;
  readonly promptTokens: (body: z.infer<S>) => number;
  /** Output cap the client set (times n), 0 for endpoints that generate nothing, null when unbounded. */
  readonly outputCap: (body: z.infer<S>) => number | null;
  /** Streaming endpoints whose usage chunk only comes when asked via stream_options. */
  readonly usageOption: boolean;
}

const cap = z.number().int().min(0).max(10_000_000).nullable().optional();
const choices = (n: number | null | undefined) => n ?? 1;

export const chatCompletions: Endpoint<typeof chatCompletionRequestSchema> = {
  path: "/chat/completions",
  schema: chatCompletionRequestSchema,
  promptTokens: (body) => promptUpperBound(body.messages, body.tools, body.functions),
  outputCap: (body) => {
    const limit = body.max_completion_tokens ?? body.max_tokens;
    return limit === null || limit === undefined ? null : limit * choices(body.n);
  },
  usageOption: true,
};

const completionsSchema = z.looseObject({
  model: modelName,
  prompt: z.union([z.string(), z.array(z.string()), z.array(z.number().int()), z.array(z.array(z.number().int()))]),
  max_tokens: cap,
  n: z.number().int().min(1).max(128).nullable().optional(),
  best_of: z.number().int().min(1).max(128).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullable().optional() }).nullable().optional(),
});

export const completions: Endpoint<typeof completionsSchema> = {
  path: "/completions",
  schema: completionsSchema,
  promptTokens: (body) => promptUpperBound(body.prompt),
  // The legacy endpoint defaults max_tokens to 16; best_of generates server-side candidates that are billed.
  outputCap: (body) => (body.max_tokens ?? 16) * Math.max(choices(body.n), body.best_of ?? 1),
  usageOption: true,
};

const embeddingsSchema = z.looseObject({
  model: modelName,
  input: z.union([z.string(), z.array(z.string()).min(1), z.array(z.number().int()).min(1), z.array(z.array(z.number().int())).min(1)]),
});

export const embeddings: Endpoint<typeof embeddingsSchema> = {
  path: "/embeddings",
  schema: embeddingsSchema,
  promptTokens: (body) => promptUpperBound(body.input),
  outputCap: () => 0,
  usageOption: false,
};

const responsesSchema = z.looseObject({
  model: modelName,
  input: z.union([z.string(), z.array(z.unknown())]),
  instructions: z.string().nullable().optional(),
  tools: z.array(z.unknown()).optional(),
  max_output_tokens: cap,
  stream: z.boolean().nullable().optional(),
});

export const responses: Endpoint<typeof responsesSchema> = {
  path: "/responses",
  schema: responsesSchema,
  promptTokens: (body) => promptUpperBound(body.input, body.instructions, body.tools),
  outputCap: (body) => body.max_output_tokens ?? null,
  usageOption: false,
};
