import type { CacheTtl } from "./anthropic-prompt";

/** Enough for every prefix a test run or benchmark writes, small enough that an isolate never notices it. */
export const PROMPT_CACHE_MAX_ENTRIES = 1000;

export const CACHE_TTL_MS: Readonly<Record<CacheTtl, number>> = { "5m": 5 * 60_000, "1h": 60 * 60_000 };

interface Entry {
  expiresAt: number;
  ttlMs: number;
}

/**
 * Which prompt prefixes the mock "provider" holds, like Anthropic's per-organisation prompt cache: entries
 * expire after their TTL, and a read restarts the TTL (Anthropic refreshes a cache entry each time it is used).
 * Bounded: when full, expired entries go first, then the least recently used.
 */
export class PromptCacheMemory {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(maxEntries = PROMPT_CACHE_MAX_ENTRIES, now: () => number = Date.now) {
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Whether the prefix is cached, without using it (a lookup that is not taken must not extend its life). */
  has(key: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    if (entry.expiresAt > this.#now()) return true;
    this.#entries.delete(key);
    return false;
  }

  /** Uses a cached prefix: its TTL restarts and it becomes the most recently used. */
  touch(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#entries.set(key, { expiresAt: this.#now() + entry.ttlMs, ttlMs: entry.ttlMs });
  }

  write(key: string, ttl: CacheTtl): void {
    const ttlMs = CACHE_TTL_MS[ttl];
    this.#entries.delete(key);
    if (this.#entries.size >= this.#maxEntries) this.#evict();
    this.#entries.set(key, { expiresAt: this.#now() + ttlMs, ttlMs });
  }

  clear(): void {
    this.#entries.clear();
  }

  #evict(): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key);
    // Map order is recency order because touch and write re-insert.
    while (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }
}

/** The isolate's shared cache: what the embedded mock remembers between requests. */
export const promptCache = new PromptCacheMemory();

/** Forgets every cached prefix, so a test can start cold. */
export function clearPromptCache(): void {
  promptCache.clear();
}
