import { z } from "zod";
import { errorResponse } from "./errors";
import { isRecord } from "./tokens";

const cap = z.number().int().nonnegative().nullish();

/**
 * Loose on purpose: only fields that change the mock's output are checked, so
 * real-world bodies with extra or provider-specific fields pass through.
 * `null` is accepted wherever SDKs and proxies like to send explicit nulls.
 */
export const generationBodySchema = z.looseObject({
  model: z.string().nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  max_tokens: cap,
  max_completion_tokens: cap,
  max_output_tokens: cap,
});
export type GenerationBody = z.infer<typeof generationBodySchema>;

export const embeddingsBodySchema = z.looseObject({
  model: z.string().nullish(),
  encoding_format: z.enum(["float", "base64"]).nullish(),
});
export type EmbeddingsBody = z.infer<typeof embeddingsBodySchema>;

export const DEFAULT_MODEL = "mock-model";

export type BodyResult<T> = { ok: true; body: T } | { ok: false; response: Response };

export async function readJsonObject(request: Request): Promise<BodyResult<Record<string, unknown>>> {
  const text = await request.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {
      ok: false,
      response: errorResponse(400, "We could not parse the JSON body of your request.", "invalid_json"),
    };
  }
  if (!isRecord(parsed)) {
    return {
      ok: false,
      response: errorResponse(400, "The request body must be a JSON object.", "invalid_json"),
    };
  }
  return { ok: true, body: parsed };
}

export function validate<T>(schema: z.ZodType<T>, body: unknown): BodyResult<T> {
  const result = schema.safeParse(body);
  if (result.success) return { ok: true, body: result.data };
  const issue = result.error.issues[0];
  const param = issue === undefined ? null : issue.path.map(String).join(".") || null;
  const message = issue === undefined ? "Invalid request body." : `Invalid value for '${param ?? "body"}': ${issue.message}`;
  return { ok: false, response: errorResponse(400, message, "invalid_value", param) };
}
