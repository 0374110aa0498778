import type { Bindings } from "../bindings";
import { refusalReason, type Call, type CallEnding } from "../call/call";
import type { Dialect } from "../http/dialect";
import { ApiError } from "../http/errors";
import { nanosToUsd } from "../limiter";
import { dataPoint, logLine, type CallOutcome, type CallRecord } from "./call-record";

/** What the observer learns of the request before (or without) its admission. */
export interface Described {
  readonly model: string;
  readonly stream: boolean;
  readonly endUser: string | null;
  readonly requestId: string;
}

/**
 * Watches one proxied request and writes its one record when it has ended: to Analytics Engine (env.ANALYTICS,
 * when bound) and as one JSON log line (always). The proxy tells it what it learns (the request, the admitted
 * call, the answer or the error); the Call says how it ended at its owners. Nothing here ever throws into the
 * request path, and a request is recorded at most once.
 */
export class CallObserver {
  private readonly startedAt = Date.now();
  private described: Described | null = null;
  private call: Call | null = null;
  private recorded = false;

  constructor(
    private readonly env: Bindings,
    private readonly endpoint: { readonly path: string; readonly dialect: Dialect },
    /** SHA-256 of the key's secret. */
    private readonly token: string,
    private readonly waitUntil: (promise: Promise<unknown>) => void,
  ) {}

  describe(described: Described): void {
    this.described = described;
  }

  admitted(call: Call): void {
    this.call = call;
  }

  /**
   * The answer leaves with this response. Its record is written once the call has ended at its owners: now for
   * an answer read whole, at the stream's end for a stream.
   */
  answered(response: Response): void {
    const call = this.call;
    if (!call) return;
    const upstreamStatus = response.headers.get("x-edgequota-upstream-status");
    const reason = response.ok ? null : upstreamStatus !== null ? `upstream_${upstreamStatus}` : `status_${response.status}`;
    this.waitUntil(call.whenEnded.then((ending) => this.record(ending.outcome, response.status, reason, ending)).catch(() => {}));
  }

  /**
   * The request failed with `error` (the proxy rethrows it). Before admission: refused (a 4xx) or an error (a
   * 5xx); after: how the call ended, or "error" when it was left for its reservations to expire.
   */
  failed(error: unknown): void {
    const status = error instanceof ApiError ? error.status : 500;
    const reason = error instanceof ApiError ? refusalReason(error) : "internal_error";
    const ending = this.call?.endedAs ?? null;
    const outcome: CallOutcome = ending ? ending.outcome : !this.call && status < 500 ? "refused" : "error";
    const queued = error instanceof ApiError ? Number(error.options.headers?.["x-edgequota-queue-ms"] ?? 0) : 0;
    this.record(outcome, status, reason, ending, queued);
  }

  private record(outcome: CallOutcome, status: number, reason: string | null, ending: CallEnding | null, queuedMs = 0): void {
    if (this.recorded) return;
    this.recorded = true;
    let record: CallRecord;
    try {
      const call = this.call;
      const split = ending?.split;
      record = {
        token: this.token,
        team_id: call?.teamId ?? null,
        end_user: this.described?.endUser ?? null,
        model: this.described?.model ?? "",
        deployment: call?.deployment?.id ?? null,
        endpoint: this.endpoint.path,
        dialect: this.endpoint.dialect,
        outcome,
        status,
        reason,
        prompt_tokens: split?.prompt ?? 0,
        completion_tokens: split?.completion ?? 0,
        cache_read_tokens: split?.cacheRead ?? 0,
        cache_write_tokens: split?.cacheWrite ?? 0,
        cost_usd: nanosToUsd(ending?.cost ?? 0),
        price_source: ending?.priceSource ?? null,
        queue_ms: Math.round(call ? call.queuedMs : Number.isFinite(queuedMs) ? queuedMs : 0),
        latency_ms: Date.now() - this.startedAt,
        stream: this.described?.stream ?? false,
        request_id: call?.requestId ?? this.described?.requestId ?? "",
      };
    } catch (error) {
      console.error("call record could not be built:", error instanceof Error ? error.message : error);
      return;
    }
    writeRecord(this.env.ANALYTICS, record);
  }
}

/** One data point when Analytics Engine is bound, one log line always; a failing binding is logged, never thrown. */
export function writeRecord(analytics: AnalyticsEngineDataset | undefined, record: CallRecord): void {
  try {
    analytics?.writeDataPoint(dataPoint(record));
  } catch (error) {
    console.error("analytics data point not written:", error instanceof Error ? error.message : error);
  }
  try {
    console.log(logLine(record));
  } catch {
    // Logging cannot fail the call.
  }
}
