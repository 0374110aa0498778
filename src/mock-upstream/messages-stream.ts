import type { AnthropicMessage, AnthropicUsage } from "./messages-types";
import type { SseEvent } from "./sse";
import { MOCK_TOKEN } from "./tokens";

/**
 * Anthropic's streamed Messages events, one text_delta per token. `message_start` carries the prompt side of
 * usage (with output_tokens 1, as the API reports before generating); `message_delta` carries the cumulative
 * output_tokens. Truncation keeps the head and N deltas and drops every `tail` event, which is what a dropped
 * connection looks like: no content_block_stop, no stop_reason, no final usage, no message_stop.
 */
export function* messageEvents(message: AnthropicMessage, tokens: number): Generator<SseEvent> {
  const event = (phase: SseEvent["phase"], type: string, payload: Record<string, unknown> = {}): SseEvent => ({
    phase,
    event: type,
    data: JSON.stringify({ type, ...payload }),
  });
  const { usage, ...rest } = message;
  const startUsage: AnthropicUsage | undefined = usage === undefined ? undefined : { ...usage, output_tokens: 1 };

  yield event("head", "message_start", {
    message: {
      ...rest,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      ...(startUsage === undefined ? {} : { usage: startUsage }),
    },
  });
  yield event("head", "content_block_start", { index: 0, content_block: { type: "text", text: "" } });
  yield event("head", "ping");
  const delta = event("content", "content_block_delta", { index: 0, delta: { type: "text_delta", text: MOCK_TOKEN } });
  for (let i = 0; i < tokens; i += 1) yield delta;
  yield event("tail", "content_block_stop", { index: 0 });
  yield event("tail", "message_delta", {
    delta: { stop_reason: message.stop_reason, stop_sequence: null },
    ...(usage === undefined ? {} : { usage: { output_tokens: tokens } }),
  });
  yield event("tail", "message_stop");
}
