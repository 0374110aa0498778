import { isRecord, PER_MESSAGE_TOKENS, PER_REQUEST_TOKENS, textTokens } from "./text";

export type CacheTtl = "5m" | "1h";

/** One cacheable unit, in Anthropic's render order (tools, then system, then messages). */
export interface PromptBlock {
  /** The block's tokens plus any message framing charged with it. */
  tokens: number;
  /** What a cache entry keys on: content and position, never the cache_control marker itself. */
  identity: string;
  /** The TTL of the breakpoint this block carries, if it is one. */
  breakpoint: CacheTtl | null;
}

function ttlOf(cacheControl: unknown): CacheTtl | null {
  if (!isRecord(cacheControl)) return null;
  return cacheControl.ttl === "1h" ? "1h" : "5m";
}

function json(value: unknown): string {
  try {
    return JSON.stringify(value) ?? "";
  } catch {
    return "";
  }
}

/** Moving or retiming a breakpoint must not change what a prefix is, so the marker stays out of its identity. */
function unmarked(value: unknown): unknown {
  if (!isRecord(value) || !("cache_control" in value)) return value;
  const copy: Record<string, unknown> = { ...value };
  delete copy.cache_control;
  return copy;
}

function blockTokens(block: unknown): number {
  if (typeof block === "string") return textTokens(block);
  if (!isRecord(block)) return 0;
  switch (block.type) {
    case "thinking":
      return typeof block.thinking === "string" ? textTokens(block.thinking) : 0;
    case "tool_use":
    case "server_tool_use":
      return (typeof block.name === "string" ? textTokens(block.name) : 0) + textTokens(json(block.input ?? {}));
    case "tool_result":
      return contentTokens(block.content);
    case "document":
      if (isRecord(block.source) && block.source.type === "text" && typeof block.source.data === "string") {
        return textTokens(block.source.data);
      }
      return isRecord(block.source) ? contentTokens(block.source.content) : 0;
    default:
      // `text` blocks and anything text-like; images carry no text and are deliberately free.
      return typeof block.text === "string" ? textTokens(block.text) : 0;
  }
}

function contentTokens(content: unknown): number {
  if (typeof content === "string") return textTokens(content);
  if (!Array.isArray(content)) return 0;
  let total = 0;
  for (const block of content) total += blockTokens(block);
  return total;
}

/** A string prompt renders like one text block, so both spellings share a cache entry. */
function asBlocks(content: unknown): unknown[] {
  if (typeof content === "string") return content === "" ? [] : [{ type: "text", text: content }];
  return Array.isArray(content) ? content : [];
}

/** Framing is charged with a turn's first block so every block boundary is a real prefix length. */
function turnBlocks(kind: string, content: unknown, out: PromptBlock[]): void {
  const blocks = asBlocks(content);
  if (blocks.length === 0) {
    out.push({ tokens: PER_MESSAGE_TOKENS, identity: `${kind}\u0000`, breakpoint: null });
    return;
  }
  blocks.forEach((block, index) => {
    out.push({
      tokens: blockTokens(block) + (index === 0 ? PER_MESSAGE_TOKENS : 0),
      identity: `${index === 0 ? kind : "+"}\u0000${json(unmarked(block))}`,
      breakpoint: isRecord(block) ? ttlOf(block.cache_control) : null,
    });
  });
}

/** The prompt of a Messages body as cacheable blocks; anything malformed simply contributes nothing. */
export function promptBlocks(prompt: unknown): PromptBlock[] {
  if (!isRecord(prompt)) return [];
  const out: PromptBlock[] = [];
  if (Array.isArray(prompt.tools)) {
    for (const tool of prompt.tools) {
      out.push({
        tokens: textTokens(json(unmarked(tool))),
        identity: `tool\u0000${json(unmarked(tool))}`,
        breakpoint: isRecord(tool) ? ttlOf(tool.cache_control) : null,
      });
    }
  }
  if (asBlocks(prompt.system).length > 0) turnBlocks("system", prompt.system, out);
  if (Array.isArray(prompt.messages)) {
    for (const message of prompt.messages) {
      const role = isRecord(message) && typeof message.role === "string" ? message.role : "";
      turnBlocks(role, isRecord(message) ? message.content : undefined, out);
    }
  }
  // Top-level cache_control is Anthropic's automatic caching: a breakpoint on the last block.
  const automatic = ttlOf(prompt.cache_control);
  const last = out.at(-1);
  if (automatic !== null && last !== undefined && last.breakpoint === null) last.breakpoint = automatic;
  return out;
}

/**
 * How the mock counts an Anthropic Messages prompt: chat's rule, so a conversation costs the same on either
 * API. PER_REQUEST_TOKENS (3) once; the system prompt (if non-empty, as one more turn) and every message
 * PER_MESSAGE_TOKENS (3) each plus their blocks; each tool the tokens of its JSON definition. A block's
 * tokens are ceil(UTF-16 length / 4) of its text: `text`, `thinking`, a `tool_use`'s name and JSON input, a
 * `tool_result`'s content, a plain-text `document`'s data. Images and binary documents are free, as in chat.
 * cache_control markers are never counted. countPromptTokens(body, "/v1/messages") clamps the sum to the
 * UTF-8 bytes of the serialised prompt, exactly like the other endpoints; use that for what the mock reports.
 */
export function anthropicPromptTokens(prompt: unknown): number {
  if (!isRecord(prompt)) return 0;
  let total = PER_REQUEST_TOKENS;
  for (const block of promptBlocks(prompt)) total += block.tokens;
  return total;
}
