/** Chat framing the mock charges, like OpenAI's: a few tokens per message and per request. */
export const PER_MESSAGE_TOKENS = 3;
export const PER_REQUEST_TOKENS = 3;

/** Characters are UTF-16 code units (`string.length`), never more than UTF-8 bytes. */
export function textTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
