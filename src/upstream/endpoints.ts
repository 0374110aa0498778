import { z } from "zod";
import type { Dialect } from "../http/dialect";
import { messagesRequestSchema } from "../schemas/anthropic";
import { chatCompletionRequestSchema, completionRequestSchema, embeddingRequestSchema, responseRequestSchema } from "../schemas/openai";
import { anthropicUsage } from "./anthropic-usage";
import type { PromptInput } from "./prompt";
import { openAiUsage, type UsageReader } from "./usage";

/**
 * What the gateway must know about each endpoint it meters: how to validate the few fields it reads, how to
 * bound the prompt, the output cap, and how the answer reports usage. Everything else passes through untouched.
 */
export interface Endpoint<S extends z.ZodType<{ model: string }>> {
  /** OpenAI's endpoints, or Anthropic's Messages API: error shapes, rate-limit headers, usage reports. */
  readonly dialect: Dialect;
  readonly usage: UsageReader;
  /** The prompt marks parts for a prompt cache, so the call may pay the cache-write price for them. */
  readonly cacheWrites: (body: z.infer<S>) => boolean;
  /** The end-user id the body carries, unvalidated (OpenAI's `user`, Anthropic's metadata.user_id). */
  readonly endUser: (body: z.infer<S>) => unknown;
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

/**
 * Whether any part of the request marks cache_control: Anthropic's prompt caching, which LiteLLM also accepts on
 * its OpenAI endpoints for Claude models; those calls may pay the cache-write price for their prompt.
 */
const marksCache = (...parts: unknown[]) => JSON.stringify(parts).includes('"cache_control"');

const openAi = {
  dialect: "openai",
  usage: openAiUsage,
  cacheWrites: (body: Record<string, unknown>) => marksCache(body.messages, body.tools, body.input, body.prompt),
  endUser: (body: Record<string, unknown>) => body.user,
} as const;

export const chatCompletions: Endpoint<typeof chatCompletionRequestSchema> = {
  ...openAi,
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
  ...openAi,
  path: "/completions",
  schema: completionRequestSchema,
  prompt: (body) => ({ kind: "text", input: body.prompt }),
  // The legacy endpoint defaults max_tokens to 16; best_of generates server-side candidates that are billed.
  outputCap: (body) => (body.max_tokens ?? 16) * Math.max(choices(body.n), body.best_of ?? 1),
  usageOption: true,
};

export const embeddings: Endpoint<typeof embeddingRequestSchema> = {
  ...openAi,
  path: "/embeddings",
  schema: embeddingRequestSchema,
  prompt: (body) => ({ kind: "text", input: body.input }),
  outputCap: () => 0,
  usageOption: false,
};

export const responses: Endpoint<typeof responseRequestSchema> = {
  ...openAi,
  path: "/responses",
  schema: responseRequestSchema,
  prompt: (body) => ({ kind: "responses", input: body.input, instructions: body.instructions, tools: body.tools }),
  outputCap: (body) => body.max_output_tokens ?? null,
  usageOption: false,
};

/**
 * Anthropic's Messages API. max_tokens is required and bounds all output (thinking included); blocks marked
 * with cache_control may be written to the prompt cache, which costs more than plain input.
 */
export const messages: Endpoint<typeof messagesRequestSchema> = {
  dialect: "anthropic",
  usage: anthropicUsage,
  cacheWrites: (body) => marksCache(body.system, body.messages, body.tools, body.cache_control),
  endUser: (body) => anthropicEndUser(body.metadata?.user_id),
  path: "/messages",
  schema: messagesRequestSchema,
  prompt: (body) => ({ kind: "anthropic", system: body.system, messages: body.messages, tools: body.tools }),
  outputCap: (body) => body.max_tokens,
  usageOption: false,
};

/**
 * Anthropic's metadata.user_id names the end user, but Claude Code fills it with its own formats: a JSON object
 * (device_id, account_uuid, session_id) in current versions, "user_<hash>_account_<uuid>_session_<uuid>" in older
 * ones. Either way the per-session part must not split one person into many end users: the account (else the
 * device, else the user hash) is the end user. Any other value is taken as it is.
 */
export function anthropicEndUser(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const legacy = /^(user_[0-9a-f]{64})_account_([0-9a-f-]*)_session_[0-9a-f-]*$/.exec(value);
  if (legacy) return legacy[2] ? `account_${legacy[2]}` : legacy[1];
  if (!value.startsWith("{")) return value;
  try {
    const parsed = JSON.parse(value) as { account_uuid?: unknown; device_id?: unknown };
    const id = [parsed.account_uuid, parsed.device_id].find((candidate) => typeof candidate === "string" && candidate !== "");
    return id === undefined ? value : `${id === parsed.account_uuid ? "account" : "device"}_${id as string}`;
  } catch {
    return value;
  }
}
