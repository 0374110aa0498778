import { DEFAULT_MODEL, type GenerationBody } from "./body";
import { completionUsage, type CompletionUsage } from "./chat";
import { mockId, nowSeconds, type MockContext } from "./context";
import { jsonResponse } from "./errors";
import { sseResponse, type SseEvent } from "./sse";
import { countPromptTokens, MOCK_TOKEN, mockText, planCompletion } from "./tokens";

function* completionChunks(
  base: { id: string; object: "text_completion"; created: number; model: string },
  tokens: number,
  finishReason: string,
  usage: CompletionUsage | null,
): Generator<SseEvent> {
  const usageField = usage === null ? {} : { usage: null };
  const chunk = (text: string, finish: string | null): string =>
    JSON.stringify({
      ...base,
      choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
      ...usageField,
    });

  const content = chunk(MOCK_TOKEN, null);
  for (let i = 0; i < tokens; i += 1) yield { phase: "content", data: content };
  yield { phase: "tail", data: chunk("", finishReason) };
  if (usage !== null) yield { phase: "tail", data: JSON.stringify({ ...base, choices: [], usage }) };
  yield { phase: "tail", data: "[DONE]" };
}

/** Legacy completions; always a single choice, even for batched prompts. */
export function textCompletions(raw: Record<string, unknown>, body: GenerationBody, ctx: MockContext): Response {
  const { tokens, capped } = planCompletion(raw, "/completions", ctx.controls, body.max_completion_tokens, body.max_tokens);
  const finishReason = capped ? "length" : "stop";
  const usage = completionUsage(countPromptTokens(raw, "/completions"), tokens);
  const id = mockId("cmpl-mock-");
  const created = nowSeconds();
  const model = body.model ?? DEFAULT_MODEL;

  if (body.stream === true) {
    const wantsUsage = body.stream_options?.include_usage === true && !ctx.controls.omitUsage;
    return sseResponse(
      completionChunks({ id, object: "text_completion", created, model }, tokens, finishReason, wantsUsage ? usage : null),
      { ...ctx.controls, signal: ctx.signal, headers: ctx.headers },
    );
  }

  return jsonResponse(
    {
      id,
      object: "text_completion",
      created,
      model,
      choices: [{ text: mockText(tokens), index: 0, logprobs: null, finish_reason: finishReason }],
      ...(ctx.controls.omitUsage ? {} : { usage }),
    },
    200,
    ctx.headers,
  );
}
