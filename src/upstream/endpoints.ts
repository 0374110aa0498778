import { z } from "zod";
import { chatCompletionRequestSchema, completionRequestSchema, embeddingRequestSchema, responseRequestSchema } from "../schemas/openai";
import type { PromptInput } from "./prompt";

/**
 * What the gateway must know about each OpenAI endpoint: how to validate the few fields it reads, how to bound
 * the prompt, and the output cap. Everything else about a request passes through untouched.
 */
export interface Endpoint<S extends z.ZodType<{ model: string }>> {
  /** Path without the /v1 prefix; both spellings are served. */
  readonly path: string;
  readonly schema: S;
  /** The parts of the request that make up its prompt, for counting or bounding its tokens. */
  readonly prompt: (body: z.infer<S>) => PromptInput;
  /** Output cap the client set (times n), 0 for endpoints that generate nothing, null when unbounded. */
  readonly outputCap: (body: z.infer<S>) => number | null;
  /** Streaming endpoints whose usage chunk only comes when asked via stream_options. */
  readonly usageOption: boolean;
}

const choices = (n: number | null | undefined) => n ?? 1;

export const chatCompletions: Endpoint<typeof chatCompletionRequestSchema> = {
  path: "/chat/completions",
  schema: chatCompletionRequestSchema,
  prompt: (body) => ({ kind: "chat", messages: body.messages, tools: body.tools, functions: body.functions }),
  outputCap: (body) => {
    const limit = body.max_completion_tokens ?? body.max_tokens;
    return limit === null || limit === undefined ? null : limit * choices(body.n);
  },
  usageOption: true,
};

export const completions: Endpoint<typeof completionRequestSchema> = {
  path: "/completions",
  schema: completionRequestSchema,
  prompt: (body) => ({ kind: "text", input: body.prompt }),
  // The legacy endpoint defaults max_tokens to 16; best_of generates server-side candidates that are billed.
  outputCap: (body) => (body.max_tokens ?? 16) * Math.max(choices(body.n), body.best_of ?? 1),
  usageOption: true,
};

export const embeddings: Endpoint<typeof embeddingRequestSchema> = {
  path: "/embeddings",
  schema: embeddingRequestSchema,
  prompt: (body) => ({ kind: "text", input: body.input }),
  outputCap: () => 0,
  usageOption: false,
};

export const responses: Endpoint<typeof responseRequestSchema> = {
  path: "/responses",
  schema: responseRequestSchema,
  prompt: (body) => ({ kind: "responses", input: body.input, instructions: body.instructions, tools: body.tools }),
  outputCap: (body) => body.max_output_tokens ?? null,
  usageOption: false,
};
