import { DEFAULT_MODEL, type GenerationBody } from "./body";
import { mockId, nowSeconds, type MockContext } from "./context";
import { jsonResponse } from "./errors";
import { sseResponse, type SseEvent } from "./sse";
import { countPromptTokens, MOCK_TOKEN, mockText, planCompletion } from "./tokens";

export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

interface ResponseShell {
  id: string;
  object: "response";
  created_at: number;
  model: string;
  instructions: unknown;
  max_output_tokens: number | null;
}

function outputMessage(id: string, text: string, status: "in_progress" | "completed"): Record<string, unknown> {
  return {
    type: "message",
    id,
    status,
    role: "assistant",
    content: status === "completed" ? [{ type: "output_text", text, annotations: [] }] : [],
  };
}

function responseObject(
  shell: ResponseShell,
  status: "in_progress" | "completed",
  output: unknown[],
  usage: ResponsesUsage | null,
): Record<string, unknown> {
  // Cap hits are still reported as "completed" (OpenAI would say "incomplete")
  // so consumers can key on a single terminal event.
  return {
    ...shell,
    status,
    error: null,
    incomplete_details: null,
    output,
    ...(usage === null ? {} : { usage }),
  };
}

function* responseEvents(
  shell: ResponseShell,
  messageId: string,
  tokens: number,
  usage: ResponsesUsage | null,
): Generator<SseEvent> {
  let sequence = 0;
  const event = (phase: SseEvent["phase"], type: string, payload: Record<string, unknown>): SseEvent => ({
    phase,
    event: type,
    data: JSON.stringify({ type, sequence_number: sequence++, ...payload }),
  });
  const text = mockText(tokens);
  const part = { type: "output_text", text, annotations: [] };
  const inProgress = responseObject(shell, "in_progress", [], null);
  const where = { item_id: messageId, output_index: 0, content_index: 0 };

  yield event("head", "response.created", { response: inProgress });
  yield event("head", "response.in_progress", { response: inProgress });
  yield event("head", "response.output_item.added", {
    output_index: 0,
    item: outputMessage(messageId, "", "in_progress"),
  });
  yield event("head", "response.content_part.added", { ...where, part: { ...part, text: "" } });
  for (let i = 0; i < tokens; i += 1) {
    yield event("content", "response.output_text.delta", { ...where, delta: MOCK_TOKEN });
  }
  yield event("tail", "response.output_text.done", { ...where, text });
  yield event("tail", "response.content_part.done", { ...where, part });
  const done = outputMessage(messageId, text, "completed");
  yield event("tail", "response.output_item.done", { output_index: 0, item: done });
  yield event("tail", "response.completed", { response: responseObject(shell, "completed", [done], usage) });
}

export function responses(raw: Record<string, unknown>, body: GenerationBody, ctx: MockContext): Response {
  const { tokens } = planCompletion(raw, "/responses", ctx.controls, body.max_output_tokens);
  const inputTokens = countPromptTokens(raw, "/responses");
  const usage: ResponsesUsage | null = ctx.controls.omitUsage
    ? null
    : {
        input_tokens: inputTokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: tokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: inputTokens + tokens,
      };
  const shell: ResponseShell = {
    id: mockId("resp_mock_"),
    object: "response",
    created_at: nowSeconds(),
    model: body.model ?? DEFAULT_MODEL,
    instructions: raw.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
  };
  const messageId = mockId("msg_mock_");

  if (body.stream === true) {
    return sseResponse(responseEvents(shell, messageId, tokens, usage), {
      ...ctx.controls,
      signal: ctx.signal,
      headers: ctx.headers,
    });
  }

  return jsonResponse(
    responseObject(shell, "completed", [outputMessage(messageId, mockText(tokens), "completed")], usage),
    200,
    ctx.headers,
  );
}
