import { DEFAULT_MODEL, type EmbeddingsBody } from "./body";
import type { MockContext } from "./context";
import { jsonResponse } from "./errors";
import { fnv1a, mulberry32 } from "./hash";
import { countPromptTokens } from "./tokens";

export const EMBEDDING_DIMENSIONS = 8;

/** A flat token-id array is one input; any other array is a batch of inputs. */
function embeddingInputs(input: unknown): unknown[] {
  if (Array.isArray(input)) {
    if (input.length > 0 && input.every((item) => typeof item === "number")) return [input];
    return input;
  }
  return input === undefined || input === null ? [] : [input];
}

/** Unit-length vector seeded by the input alone, so equal inputs embed equally. */
export function mockEmbedding(input: unknown): number[] {
  const next = mulberry32(fnv1a(JSON.stringify(input) ?? ""));
  const raw = Array.from({ length: EMBEDDING_DIMENSIONS }, () => next() * 2 - 1);
  const norm = Math.sqrt(raw.reduce((sum, v) => sum + v * v, 0)) || 1;
  return raw.map((v) => Math.round((v / norm) * 1e6) / 1e6);
}

/** The OpenAI SDKs request base64 by default: little-endian float32s. */
export function encodeBase64Floats(values: readonly number[]): string {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  let binary = "";
  for (const byte of new Uint8Array(view.buffer)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function embeddings(raw: Record<string, unknown>, body: EmbeddingsBody, ctx: MockContext): Response {
  const promptTokens = countPromptTokens(raw, "/embeddings");
  const base64 = body.encoding_format === "base64";
  const data = embeddingInputs(raw.input).map((item, index) => {
    const vector = mockEmbedding(item);
    return { object: "embedding", index, embedding: base64 ? encodeBase64Floats(vector) : vector };
  });
  return jsonResponse(
    {
      object: "list",
      data,
      model: body.model ?? DEFAULT_MODEL,
      ...(ctx.controls.omitUsage ? {} : { usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } }),
    },
    200,
    ctx.headers,
  );
}
