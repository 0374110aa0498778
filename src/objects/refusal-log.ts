/** How often an owner's calls were refused for one reason, and when last. */
export interface RefusalCount {
  count: number;
  last_at: number;
}

const ENTRY = "refusals";

/**
 * Refusals by reason ("key:tpm_limit", "team:rpm_limit", "deployment:otpm", "key_blocked"...), so a dashboard can
 * show who is being refused and why: refused calls never reach the spend log. The reasons are a small fixed set
 * (owner scope x limit name, plus rule codes), so the map stays bounded; it is one storage entry.
 */
export class RefusalLog {
  private counts: Record<string, RefusalCount>;

  constructor(private readonly storage: DurableObjectStorage) {
    this.counts = storage.kv.get<Record<string, RefusalCount>>(ENTRY) ?? {};
  }

  note(reason: string, at: number): void {
    const entry = Object.hasOwn(this.counts, reason) ? this.counts[reason]! : (this.counts[reason] = { count: 0, last_at: at });
    entry.count++;
    entry.last_at = at;
    this.storage.kv.put(ENTRY, this.counts);
  }

  all(): Record<string, RefusalCount> {
    return { ...this.counts };
  }

  clear(): void {
    this.counts = {};
    this.storage.kv.delete(ENTRY);
  }
}

/** The limit a rejection names, as the settings call it (tpm_limit, max_budget...). */
export const REJECTION_REASONS = {
  requests: "rpm_limit",
  tokens: "tpm_limit",
  input_tokens: "itpm",
  output_tokens: "otpm",
  parallel_requests: "max_parallel_requests",
  budget: "max_budget",
  queue: "queue",
} as const;
