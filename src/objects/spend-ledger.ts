import type { Settlement } from "../limiter";

/** One line of the spend ledger, in storage units (nano-dollars, ms). */
export interface LedgerEntry {
  seq: number;
  request_id: string | null;
  at: number;
  model: string | null;
  tokens: number;
  cost: number;
  outcome: string;
  /** The upstream's split of `tokens`, when the call settled from one (null for estimates, resets, folds). */
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  cache_read_tokens?: number | null;
  cache_write_tokens?: number | null;
  /** Where the cost's price came from: the price database, "model_prices", "upstream" (LiteLLM's figure). */
  price_source?: string | null;
  /** The end user the call was made for. */
  end_user?: string | null;
  /** How long the call waited for capacity (ms), when it waited. */
  queue_ms?: number | null;
}

/** Columns added after the first release; objects created before them gain them on first open. */
const LATER_COLUMNS = ["prompt_tokens INTEGER", "completion_tokens INTEGER", "cache_read_tokens INTEGER", "cache_write_tokens INTEGER", "price_source TEXT", "end_user TEXT", "queue_ms INTEGER"];

/** Lines kept; older ones are folded into one "carried_forward" line so the ledger still sums to spend. */
export const LEDGER_RETENTION = 10_000;

/**
 * The per-request spend log of one limiter owner, kept as a ledger: every ended call adds its cost, every budget
 * reset adds minus the spend it wiped, and pruning folds old lines into a single carried-forward line. So the sum
 * of the ledger always equals the current spend, which makes /key/info's spend auditable line by line.
 */
export class SpendLedger {
  /** Lines stored, kept in memory so the hot path never counts rows. */
  private lines: number;

  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS spend_log (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT, at INTEGER NOT NULL, model TEXT,
      tokens INTEGER NOT NULL, cost INTEGER NOT NULL, outcome TEXT NOT NULL)`);
    const present = new Set(sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('spend_log')").toArray().map((row) => row.name));
    for (const column of LATER_COLUMNS) if (!present.has(column.split(" ")[0]!)) sql.exec(`ALTER TABLE spend_log ADD COLUMN ${column}`);
    this.lines = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM spend_log").one().n;
  }

  get size(): number {
    return this.lines;
  }

  record(settlements: readonly Settlement[]): void {
    for (const { reservation, outcome, tokens, cost, at, split, priceSource, queueMs } of settlements) {
      if (outcome === "cancelled") continue; // never admitted: nothing happened to account for
      this.insert({
        request_id: reservation.requestId,
        at,
        model: reservation.model,
        tokens,
        cost,
        outcome,
        prompt_tokens: split?.prompt ?? null,
        completion_tokens: split?.completion ?? null,
        cache_read_tokens: split ? (split.cacheRead ?? 0) : null,
        cache_write_tokens: split ? (split.cacheWrite ?? 0) : null,
        price_source: priceSource ?? null,
        end_user: reservation.endUser ?? null,
        queue_ms: queueMs ?? null,
      });
    }
    this.prune();
  }

  recordReset(at: number, wiped: number): void {
    if (wiped !== 0) this.insert({ request_id: null, at, model: null, tokens: 0, cost: -wiped, outcome: "budget_reset" });
  }

  /** Newest first. */
  list(limit: number): LedgerEntry[] {
    return this.sql.exec<Record<string, SqlStorageValue>>("SELECT * FROM spend_log ORDER BY seq DESC LIMIT ?", limit).toArray() as unknown as LedgerEntry[];
  }

  total(): number {
    return this.sql.exec<{ total: number | null }>("SELECT SUM(cost) AS total FROM spend_log").one().total ?? 0;
  }

  clear(): void {
    this.sql.exec("DELETE FROM spend_log");
    this.lines = 0;
  }

  /** Copies every line, for a key that moves to a new secret. */
  export(): LedgerEntry[] {
    return this.sql.exec("SELECT * FROM spend_log ORDER BY seq").toArray() as unknown as LedgerEntry[];
  }

  import(entries: readonly LedgerEntry[]): void {
    for (const { seq: _seq, ...entry } of entries) this.insert(entry);
  }

  private insert(entry: Omit<LedgerEntry, "seq">): void {
    this.sql.exec(
      `INSERT INTO spend_log (request_id, at, model, tokens, cost, outcome, prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens, price_source, end_user, queue_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      entry.request_id, entry.at, entry.model, entry.tokens, entry.cost, entry.outcome,
      entry.prompt_tokens ?? null, entry.completion_tokens ?? null, entry.cache_read_tokens ?? null, entry.cache_write_tokens ?? null, entry.price_source ?? null,
      entry.end_user ?? null, entry.queue_ms ?? null,
    );
    this.lines++;
  }

  private prune(): void {
    // Prune in batches of a tenth so the fold happens rarely, not on every call.
    if (this.lines <= LEDGER_RETENTION + LEDGER_RETENTION / 10) return;
    const last = this.sql.exec<{ last: number | null }>("SELECT MAX(seq) AS last FROM spend_log").one().last;
    if (last === null) return;
    const cut = last - LEDGER_RETENTION;
    const folded = this.sql.exec<{ cost: number | null; tokens: number | null; at: number | null }>(
      "SELECT SUM(cost) AS cost, SUM(tokens) AS tokens, MAX(at) AS at FROM spend_log WHERE seq <= ?", cut,
    ).one();
    this.sql.exec("DELETE FROM spend_log WHERE seq <= ?", cut);
    this.insertAt(cut, folded.at ?? 0, folded.tokens ?? 0, folded.cost ?? 0);
    this.lines = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM spend_log").one().n;
  }

  /** The carried-forward line takes the place (seq) of the last line it folds, so order is kept. */
  private insertAt(seq: number, at: number, tokens: number, cost: number): void {
    this.sql.exec(
      "INSERT INTO spend_log (seq, request_id, at, model, tokens, cost, outcome) VALUES (?, NULL, ?, NULL, ?, ?, 'carried_forward')",
      seq, at, tokens, cost,
    );
  }
}
