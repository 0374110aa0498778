import type { Dialect } from "../http/dialect";

/**
 * How a call ended. The first three end a call its owners admitted: its usage settled, it was charged at its
 * estimate (the upstream may have worked but did not say how much), or its reservations were released (nothing
 * consumed). "refused": the gateway turned it away before it was admitted everywhere (a 4xx: a limit, a rule, an
 * invalid request). "error": the gateway failed it (a 5xx of its own), or it failed after admission without ending.
 */
export type CallOutcome = "settled" | "charged_estimate" | "released" | "refused" | "error";

/**
 * One call of a metered endpoint, as analytics and logs see it once it has ended. No secret and no prompt text:
 * the key is its SHA-256 (the name of its object, never the key itself) and only counts of tokens are kept.
 */
export interface CallRecord {
  /** SHA-256 (hex) of the key's secret. */
  readonly token: string;
  readonly team_id: string | null;
  readonly end_user: string | null;
  /** The model the client asked for ("" when the request was refused before its body was read). */
  readonly model: string;
  /** The deployment that served the call (its id in DEPLOYMENTS), null without one. */
  readonly deployment: string | null;
  /** The endpoint without /v1: "/chat/completions", "/messages"... */
  readonly endpoint: string;
  readonly dialect: Dialect;
  readonly outcome: CallOutcome;
  /** The HTTP status the client got. */
  readonly status: number;
  /**
   * Why the call did not succeed: the limit that refused it ("key:tpm_limit", "team:rpm_limit"), else the
   * gateway's error code ("key_blocked", "invalid_request", "upstream_timeout"), "upstream_<status>" for an
   * upstream error passed through; null for a call answered 2xx.
   */
  readonly reason: string | null;
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly cache_read_tokens: number;
  readonly cache_write_tokens: number;
  /** What the call cost (USD), as charged to the key. */
  readonly cost_usd: number;
  /** Where the cost's price came from ("genai-prices@<version>", "model_prices", "upstream", "unknown"), null when none. */
  readonly price_source: string | null;
  /** How long the call waited for capacity in owners' queues (ms). */
  readonly queue_ms: number;
  /** From the request reaching the gateway to the end of the call (a stream: its last event) (ms). */
  readonly latency_ms: number;
  readonly stream: boolean;
  /** The call's id (x-litellm-call-id; the spend log's request_id). */
  readonly request_id: string;
}

/**
 * The fixed mapping of a record onto an Analytics Engine data point. Positions are the column names of the SQL
 * API: the n-th entry of BLOBS is `blob<n>`, of DOUBLES `double<n>`, of INDEXES `index<n>`. Only ever append:
 * moving a field would change the meaning of every row already written. Analytics Engine takes one index per
 * data point (also its sampling key: calls of one key are sampled together), up to 20 blobs and 20 doubles.
 */
export const INDEXES = ["token"] as const satisfies readonly (keyof CallRecord)[];

export const BLOBS = [
  "team_id",
  "model",
  "deployment",
  "endpoint",
  "outcome",
  "reason",
  "end_user",
  "dialect",
  "price_source",
  "request_id",
] as const satisfies readonly (keyof CallRecord)[];

/** `stream` is written as 1 (streamed) or 0. */
export const DOUBLES = [
  "status",
  "prompt_tokens",
  "completion_tokens",
  "cache_read_tokens",
  "cache_write_tokens",
  "cost_usd",
  "queue_ms",
  "latency_ms",
  "stream",
] as const satisfies readonly (keyof CallRecord)[];

/** The SQL API column of a record's field: "index1", "blob1"... "double6"... (undefined for a field not written). */
export function columnOf(field: keyof CallRecord): string | undefined {
  for (const [prefix, fields] of [["index", INDEXES], ["blob", BLOBS], ["double", DOUBLES]] as const) {
    const at = (fields as readonly string[]).indexOf(field);
    if (at >= 0) return `${prefix}${at + 1}`;
  }
  return undefined;
}

/** The record as one Analytics Engine data point; null text fields are written as "" (what SQL shows for them). */
export function dataPoint(record: CallRecord): AnalyticsEngineDataPoint {
  return {
    indexes: INDEXES.map((field) => record[field]),
    blobs: BLOBS.map((field) => record[field] ?? ""),
    doubles: DOUBLES.map((field) => {
      const value = Number(record[field]);
      return Number.isFinite(value) ? value : 0;
    }),
  };
}

/** The record as one structured log line (Workers Logs): a JSON object with every field, tagged "edgequota.call". */
export function logLine(record: CallRecord): string {
  return JSON.stringify({ event: "edgequota.call", ...record });
}
