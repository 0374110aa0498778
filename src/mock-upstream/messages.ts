import { anthropicError } from "./anthropic-errors";
import { promptBlocks } from "./anthropic-prompt";
import { breakpointError, planPromptCache, type CacheUsage } from "./cache-plan";
import { mockId, type MockContext } from "./context";
import { jsonResponse } from "./errors";
import { countTokensBodySchema, messagesBodySchema, readMessagesBody } from "./messages-body";
import { messageEvents } from "./messages-stream";
import { promptCache } from "./prompt-cache";
import { sseResponse } from "./sse";
import type { AnthropicMessage, AnthropicUsage } from "./messages-types";
import { countPromptTokens, mockText, planCompletion } from "./tokens";

export type { AnthropicMessage, AnthropicUsage } from "./messages-types";

export function anthropicUsage(promptTokens: number, cache: CacheUsage, outputTokens: number): AnthropicUsage {
  const written = cache.write5m + cache.write1h;
  return {
    input_tokens: promptTokens - cache.read - written,
    cache_creation_input_tokens: written,
    cache_read_input_tokens: cache.read,
    cache_creation: { ephemeral_5m_input_tokens: cache.write5m, ephemeral_1h_input_tokens: cache.write1h },
    output_tokens: outputTokens,
    service_tier: "standard",
  };
}

/** POST /v1/messages */
export async function messages(request: Request, ctx: MockContext): Promise<Response> {
  const parsed = await readMessagesBody(request, messagesBodySchema);
  if (!parsed.ok) return parsed.response;
  const { raw, body } = parsed;
  const blocks = promptBlocks(raw);
  const refused = breakpointError(blocks);
  if (refused !== null) return anthropicError(400, refused);

  const promptTokens = countPromptTokens(raw, "/messages");
  // Planned even when usage is omitted: the provider caches whether or not it reports it.
  const cache = planPromptCache(blocks, body.model, promptTokens, ctx.controls, promptCache);
  const { tokens, capped } = planCompletion(raw, "/messages", ctx.controls, body.max_tokens);
  const message: AnthropicMessage = {
    id: mockId("msg_mock_"),
    type: "message",
    role: "assistant",
    model: body.model,
    content: [{ type: "text", text: mockText(tokens) }],
    stop_reason: capped ? "max_tokens" : "end_turn",
    stop_sequence: null,
    ...(ctx.controls.omitUsage ? {} : { usage: anthropicUsage(promptTokens, cache, tokens) }),
  };

  if (body.stream === true) {
    return sseResponse(messageEvents(message, tokens), { ...ctx.controls, signal: ctx.signal, headers: ctx.headers });
  }
  return jsonResponse(message, 200, ctx.headers);
}

/** POST /v1/messages/count_tokens: the whole prompt, as if nothing were cached. */
export async function countMessageTokens(request: Request, ctx: MockContext): Promise<Response> {
  const parsed = await readMessagesBody(request, countTokensBodySchema);
  if (!parsed.ok) return parsed.response;
  const refused = breakpointError(promptBlocks(parsed.raw));
  if (refused !== null) return anthropicError(400, refused);
  return jsonResponse({ input_tokens: countPromptTokens(parsed.raw, "/messages/count_tokens") }, 200, ctx.headers);
}
