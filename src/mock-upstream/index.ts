/**
 * Embedded OpenAI-compatible upstream, which also speaks Anthropic's Messages API (/v1/messages, with
 * simulated prompt caching, and /v1/messages/count_tokens). It runs in-process (no network hop) so
 * the gateway works without a configured provider and tests get exact,
 * deterministic token counts plus header-driven latency, length and fault
 * injection (the x-mock-* headers are listed in controls.ts). Answers stop on
 * their own like a real model's: a natural length drawn from a hash of the
 * prompt (log-normal, median 300 tokens), cut by the request's cap.
 */
import { anthropicError, anthropicFault, isAnthropicPath } from "./anthropic-errors";
import {
  embeddingsBodySchema,
  generationBodySchema,
  readJsonObject,
  validate,
  type EmbeddingsBody,
  type GenerationBody,
} from "./body";
import { chatCompletions } from "./chat";
import { textCompletions } from "./completions";
import type { MockContext } from "./context";
import { parseMockControls, successHeaders } from "./controls";
import { embeddings } from "./embeddings";
import { errorResponse, notFound } from "./errors";
import { countMessageTokens, messages } from "./messages";
import { listModels, retrieveModel } from "./models";
import { normalizePath } from "./paths";
import { responses } from "./responses";
import { sleep } from "./sleep";

export {
  countPromptTokens,
  MAX_COMPLETION_TOKENS,
  MEDIAN_COMPLETION_TOKENS,
  MOCK_TOKEN,
  naturalCompletionTokens,
} from "./tokens";
export { parseMockControls, type MockControls } from "./controls";
export { anthropicErrorType, type AnthropicErrorBody } from "./anthropic-errors";
export { anthropicPromptTokens } from "./anthropic-prompt";
export { CACHE_LOOKBACK_BLOCKS, MAX_CACHE_BREAKPOINTS, MIN_CACHEABLE_PROMPT_TOKENS } from "./cache-plan";
export type { AnthropicMessage, AnthropicUsage } from "./messages";
export { clearPromptCache } from "./prompt-cache";
export { MOCK_MODEL_IDS } from "./models";
export { EMBEDDING_DIMENSIONS } from "./embeddings";

type Handler = (request: Request, ctx: MockContext) => Promise<Response>;

function generation(
  handle: (raw: Record<string, unknown>, body: GenerationBody, ctx: MockContext) => Response,
): Handler {
  return async (request, ctx) => {
    const raw = await readJsonObject(request);
    if (!raw.ok) return raw.response;
    const body = validate(generationBodySchema, raw.body);
    if (!body.ok) return body.response;
    return handle(raw.body, body.body, ctx);
  };
}

const embeddingsHandler: Handler = async (request, ctx) => {
  const raw = await readJsonObject(request);
  if (!raw.ok) return raw.response;
  const body = validate<EmbeddingsBody>(embeddingsBodySchema, raw.body);
  if (!body.ok) return body.response;
  return embeddings(raw.body, body.body, ctx);
};

const POST_ROUTES: Readonly<Record<string, Handler>> = {
  "/chat/completions": generation(chatCompletions),
  "/completions": generation(textCompletions),
  "/responses": generation(responses),
  "/embeddings": embeddingsHandler,
  "/messages": messages,
  "/messages/count_tokens": countMessageTokens,
};

function faultResponse(status: number): Response {
  // Real 429s carry a retry hint; gateways are expected to honour it.
  const headers = status === 429 ? { "retry-after": "1" } : undefined;
  const code = status === 429 ? "rate_limit_exceeded" : "mock_fault";
  return errorResponse(status, `Mock upstream fault injected via x-mock-status: ${status}`, code, null, headers);
}

function safeDecode(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

export async function mockUpstream(request: Request): Promise<Response> {
  const { signal } = request;
  // Behave like fetch: an already-aborted request never produces a response.
  signal.throwIfAborted();
  const controls = parseMockControls(request.headers);
  const url = new URL(request.url);
  const path = normalizePath(url.pathname);
  const anthropic = isAnthropicPath(path);
  if (controls.latencyMs > 0) await sleep(controls.latencyMs, signal);
  if (controls.status !== null) return anthropic ? anthropicFault(controls.status) : faultResponse(controls.status);

  const method = request.method.toUpperCase();
  const ctx: MockContext = { controls, signal, headers: successHeaders(controls) };

  if (method === "GET") {
    if (path === "/models") return listModels(ctx.headers);
    if (path.startsWith("/models/")) {
      const id = safeDecode(path.slice("/models/".length));
      if (id !== null) return retrieveModel(id, ctx.headers);
    }
  }
  if (method === "POST") {
    const handler = POST_ROUTES[path];
    if (handler !== undefined) return handler(request, ctx);
  }
  if (anthropic) return anthropicError(404, `Unknown request URL: ${method} ${url.pathname}.`);
  return notFound(method, url.pathname);
}
