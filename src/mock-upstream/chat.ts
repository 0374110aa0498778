import { DEFAULT_MODEL, type GenerationBody } from "./body";
import { mockId, nowSeconds, type MockContext } from "./context";
import { jsonResponse } from "./errors";
import { sseResponse, type SseEvent } from "./sse";
import { countPromptTokens, MOCK_TOKEN, mockText, planCompletion } from "./tokens";

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function completionUsage(promptTokens: number, completionTokens: number): CompletionUsage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

function* chatChunks(
  base: { id: string; object: "chat.completion.chunk"; created: number; model: string },
  tokens: number,
  finishReason: string,
  usage: CompletionUsage | null,
): Generator<SseEvent> {
  // OpenAI sends `usage: null` on every chunk once usage was requested; gateways
  // must not mistake that for the real usage chunk, so the mock does the same.
  const usageField = usage === null ? {} : { usage: null };
  const chunk = (choice: Record<string, unknown>): string =>
    JSON.stringify({ ...base, choices: [{ index: 0, logprobs: null, ...choice }], ...usageField });

  yield { phase: "head", data: chunk({ delta: { role: "assistant", content: "" }, finish_reason: null }) };
  const content = chunk({ delta: { content: MOCK_TOKEN }, finish_reason: null });
  for (let i = 0; i < tokens; i += 1) yield { phase: "content", data: content };
  yield { phase: "tail", data: chunk({ delta: {}, finish_reason: finishReason }) };
  if (usage !== null) yield { phase: "tail", data: JSON.stringify({ ...base, choices: [], usage }) };
  yield { phase: "tail", data: "[DONE]" };
}

export function chatCompletions(raw: Record<string, unknown>, body: GenerationBody, ctx: MockContext): Response {
  const { tokens, capped } = planCompletion(raw, "/chat/completions", ctx.controls, body.max_completion_tokens, body.max_tokens);
  const finishReason = capped ? "length" : "stop";
  const usage = completionUsage(countPromptTokens(raw, "/chat/completions"), tokens);
  const id = mockId("chatcmpl-mock-");
  const created = nowSeconds();
  const model = body.model ?? DEFAULT_MODEL;

  if (body.stream === true) {
    const wantsUsage = body.stream_options?.include_usage === true && !ctx.controls.omitUsage;
    return sseResponse(
      chatChunks({ id, object: "chat.completion.chunk", created, model }, tokens, finishReason, wantsUsage ? usage : null),
      { ...ctx.controls, signal: ctx.signal, headers: ctx.headers },
    );
  }

  return jsonResponse(
    {
      id,
      object: "chat.completion",
      created,
      model,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: mockText(tokens), refusal: null },
          logprobs: null,
          finish_reason: finishReason,
        },
      ],
      ...(ctx.controls.omitUsage ? {} : { usage }),
    },
    200,
    ctx.headers,
  );
}
