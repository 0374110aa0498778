import { utf8Length } from "../tokens/segments";

/**
 * Upper bounds for what a request can cost in tokens, computed before the upstream answers.
 *
 * Prompt: every byte-level BPE tokenizer (tiktoken, SentencePiece with byte fallback) spends at least one byte
 * per token, and the JSON framing of each message is longer than the few control tokens a chat template adds,
 * so the UTF-8 length of the serialised input bounds its token count for any model. Images are the exception:
 * a short URL can cost many tokens, so each image part adds IMAGE_TOKENS (GPT-4o's worst case for a
 * 2048x2048 high-detail image, rounded up). The bound is loose (about 4x for English), but the reservation is
 * replaced by real usage when the call ends, so looseness only matters while calls are in flight.
 */
export const IMAGE_TOKENS = 1_600;
/** Room for the assistant-turn priming tokens a chat template appends. */
const PRIMING_TOKENS = 8;

function countImages(value: unknown, depth = 0): number {
  if (depth > 64 || typeof value !== "object" || value === null) return 0;
  if (Array.isArray(value)) return value.reduce<number>((sum, item) => sum + countImages(item, depth + 1), 0);
  const record = value as Record<string, unknown>;
  const type = record.type;
  if (type === "image_url" || type === "input_image" || type === "image") return 1;
  let sum = 0;
  for (const child of Object.values(record)) sum += countImages(child, depth + 1);
  return sum;
}

/** Upper bound of the prompt tokens of the given request fields (messages, tools, input, ...). */
export function promptUpperBound(...parts: unknown[]): number {
  let bound = PRIMING_TOKENS;
  for (const part of parts) {
    if (part === undefined || part === null) continue;
    bound += utf8Length(typeof part === "string" ? part : JSON.stringify(part)) + IMAGE_TOKENS * countImages(part);
  }
  return bound;
}
