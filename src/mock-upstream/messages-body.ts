import { z } from "zod";
import { anthropicError } from "./anthropic-errors";
import { isRecord } from "./text";

const cacheControl = z.object({ type: z.literal("ephemeral"), ttl: z.enum(["5m", "1h"]).nullish() }).nullish();

// Loose like the OpenAI bodies: only what changes the answer or its usage is checked, so new block types
// and provider fields pass through. `null` is accepted wherever SDKs and proxies send explicit nulls.
const block = z.looseObject({ type: z.string(), text: z.string().optional(), cache_control: cacheControl });
const textBlock = z.looseObject({ type: z.literal("text"), text: z.string(), cache_control: cacheControl });

const promptFields = {
  model: z.string().min(1),
  messages: z
    .array(
      z.looseObject({
        role: z.enum(["user", "assistant"]),
        content: z.union([z.string(), z.array(block)]),
      }),
    )
    .min(1),
  system: z.union([z.string(), z.array(textBlock)]).nullish(),
  tools: z.array(z.looseObject({ name: z.string().min(1), cache_control: cacheControl })).nullish(),
  thinking: z
    .looseObject({
      type: z.enum(["enabled", "disabled", "adaptive"]),
      budget_tokens: z.number().int().min(1024).nullish(),
    })
    .nullish(),
  cache_control: cacheControl,
};

export const countTokensBodySchema = z.looseObject(promptFields);
export type CountTokensBody = z.infer<typeof countTokensBodySchema>;

export const messagesBodySchema = z.looseObject({
  ...promptFields,
  max_tokens: z.number().int().min(1),
  stream: z.boolean().nullish(),
  metadata: z.looseObject({ user_id: z.string().nullish() }).nullish(),
});
export type MessagesBody = z.infer<typeof messagesBodySchema>;

export type ParsedBody<T> = { ok: true; raw: Record<string, unknown>; body: T } | { ok: false; response: Response };

function invalid(message: string): { ok: false; response: Response } {
  return { ok: false, response: anthropicError(400, message) };
}

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let value = body;
  for (const key of path) {
    if (!isRecord(value) && !Array.isArray(value)) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

interface Issue {
  path: PropertyKey[];
  message: string;
  errors?: Issue[][];
}

/** A union's own issue only says "Invalid input"; the branch that got furthest names the real problem. */
function specific(issue: Issue): Issue {
  if (issue.errors === undefined) return issue;
  let best: Issue = issue;
  for (const branch of issue.errors) {
    for (const inner of branch) {
      const candidate = specific(inner);
      if (candidate.path.length > 0 && issue.path.length + candidate.path.length > best.path.length) {
        best = { path: [...issue.path, ...candidate.path], message: candidate.message };
      }
    }
  }
  return best;
}

/** Reads and checks a Messages body, failing the way Anthropic does: a 400 naming the offending field. */
export async function readMessagesBody<T>(request: Request, schema: z.ZodType<T>): Promise<ParsedBody<T>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await request.text());
  } catch {
    return invalid("There was an error parsing the body of your request as JSON.");
  }
  if (!isRecord(raw)) return invalid("The request body must be a JSON object.");
  const result = schema.safeParse(raw);
  if (!result.success) {
    const first = result.error.issues[0];
    if (first === undefined) return invalid("Invalid request body.");
    const issue = specific(first as Issue);
    const field = issue.path.map(String).join(".");
    const reason = valueAt(raw, issue.path) === undefined ? "Field required" : issue.message;
    return invalid(field === "" ? reason : `${field}: ${reason}`);
  }
  const thinking = isRecord(raw.thinking) ? raw.thinking : null;
  if (thinking?.type === "enabled" && typeof thinking.budget_tokens !== "number") {
    return invalid("thinking.enabled.budget_tokens: Field required");
  }
  if (
    typeof raw.max_tokens === "number" &&
    typeof thinking?.budget_tokens === "number" &&
    thinking.budget_tokens >= raw.max_tokens
  ) {
    return invalid("`max_tokens` must be greater than `thinking.budget_tokens`.");
  }
  return { ok: true, raw, body: result.data };
}
