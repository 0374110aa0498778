import type { CacheTtl, PromptBlock } from "./anthropic-prompt";
import { cyrb53 } from "./hash";
import type { PromptCacheMemory } from "./prompt-cache";
import { PER_REQUEST_TOKENS } from "./text";

/** Anthropic's minimum cacheable prefix for most models: shorter prefixes are processed but never cached. */
export const MIN_CACHEABLE_PROMPT_TOKENS = 1024;
/** Anthropic looks for an earlier cached prefix at most about this many blocks before each breakpoint. */
export const CACHE_LOOKBACK_BLOCKS = 20;
export const MAX_CACHE_BREAKPOINTS = 4;

/** How a prompt's tokens split for billing; whatever is left of the count is uncached `input_tokens`. */
export interface CacheUsage {
  read: number;
  write5m: number;
  write1h: number;
}

/** x-mock-cache-read-tokens / x-mock-cache-write-tokens (see controls.ts). */
export interface CacheOverrides {
  cacheReadTokens: number | null;
  cacheWriteTokens: number | null;
}

/** The 400 message Anthropic gives for breakpoints it refuses, or null. */
export function breakpointError(blocks: readonly PromptBlock[]): string | null {
  const ttls = blocks.flatMap((block) => (block.breakpoint === null ? [] : [block.breakpoint]));
  if (ttls.length > MAX_CACHE_BREAKPOINTS) {
    return `A maximum of ${MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found ${ttls.length}.`;
  }
  const firstShort = ttls.indexOf("5m");
  if (firstShort !== -1 && ttls.indexOf("1h", firstShort) !== -1) {
    return (
      "A ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. " +
      "Blocks are processed in this order: tools, system, messages."
    );
  }
  return null;
}

function lastTtl(blocks: readonly PromptBlock[]): CacheTtl {
  for (let i = blocks.length - 1; i >= 0; i -= 1) {
    const ttl = blocks[i]?.breakpoint;
    if (ttl !== undefined && ttl !== null) return ttl;
  }
  return "5m";
}

function forced(blocks: readonly PromptBlock[], total: number, overrides: CacheOverrides): CacheUsage {
  const read = Math.min(overrides.cacheReadTokens ?? 0, total);
  const write = Math.min(overrides.cacheWriteTokens ?? 0, total - read);
  const ttl = lastTtl(blocks);
  return { read, write5m: ttl === "5m" ? write : 0, write1h: ttl === "1h" ? write : 0 };
}

/**
 * Splits a prompt of `total` tokens into cache reads and writes the way Anthropic does, remembering written
 * prefixes in `memory`:
 *
 * - Every block boundary is a prefix (tools, then system, then messages); a block with cache_control is a
 *   breakpoint. Without breakpoints nothing is read or written.
 * - Read: the longest cached prefix ending at a breakpoint or up to CACHE_LOOKBACK_BLOCKS blocks before one
 *   (so a conversation that moves its breakpoint to the newest turn still reads the previous turn's prefix).
 * - Write: every breakpoint past the read whose prefix has at least MIN_CACHEABLE_PROMPT_TOKENS; the tokens
 *   from the read (or the start) up to the last such breakpoint are the cache write, each stretch billed to
 *   the TTL bucket of the breakpoint that closes it.
 *
 * With either override set, the memory is neither consulted nor changed: the read is the forced read clamped
 * to the prompt, the write the forced write clamped to what remains, billed to the last breakpoint's TTL
 * (5m without one).
 */
export function planPromptCache(
  blocks: readonly PromptBlock[],
  model: string,
  total: number,
  overrides: CacheOverrides,
  memory: PromptCacheMemory,
): CacheUsage {
  if (overrides.cacheReadTokens !== null || overrides.cacheWriteTokens !== null) return forced(blocks, total, overrides);
  const marks = blocks.flatMap((block, index) => (block.breakpoint === null ? [] : [index]));
  if (marks.length === 0) return { read: 0, write5m: 0, write1h: 0 };

  const prefixes: number[] = [];
  const keys: string[] = [];
  let tokens = PER_REQUEST_TOKENS;
  // Chained so each prefix's key costs one pass over its last block, not over the whole prefix again.
  let key = `${model}\u0000`;
  for (const block of blocks) {
    tokens += block.tokens;
    prefixes.push(Math.min(tokens, total));
    key = cyrb53(`${key}\u0001${block.identity}`).toString(36);
    keys.push(key);
  }
  const cacheable = (index: number): boolean => (prefixes[index] ?? 0) >= MIN_CACHEABLE_PROMPT_TOKENS;

  let hit = -1;
  for (const mark of marks) {
    for (let i = mark; i >= Math.max(0, mark - CACHE_LOOKBACK_BLOCKS) && i > hit; i -= 1) {
      if (cacheable(i) && memory.has(keys[i] ?? "")) {
        hit = i;
        break;
      }
    }
  }
  if (hit >= 0) memory.touch(keys[hit] ?? "");

  const usage: CacheUsage = { read: hit >= 0 ? (prefixes[hit] ?? 0) : 0, write5m: 0, write1h: 0 };
  let written = usage.read;
  for (const mark of marks) {
    const ttl = blocks[mark]?.breakpoint;
    if (mark <= hit || !cacheable(mark) || ttl === undefined || ttl === null) continue;
    memory.write(keys[mark] ?? "", ttl);
    const stretch = (prefixes[mark] ?? 0) - written;
    if (ttl === "1h") usage.write1h += stretch;
    else usage.write5m += stretch;
    written = prefixes[mark] ?? 0;
  }
  return usage;
}
