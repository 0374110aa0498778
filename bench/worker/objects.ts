import { KeyObject as ProductKeyObject, TeamObject as ProductTeamObject } from "../../src/index";
import type { TokenSplit, Usage } from "../../src/limiter";
import type { AdmitAnswer, AdmitInput, LeaseAnswer, LeaseRequest } from "../../src/objects/protocol";

/**
 * One admission as the owner's object saw it (its own clock, ms): when the call reached the object, when it was
 * admitted, the window bucket it is counted in, and its fairness share (the key, inside a team).
 */
export interface AdmissionEntry {
  readonly requestId: string;
  readonly arrivedAt: number;
  readonly admittedAt: number;
  readonly bucket: number;
  readonly share: string | null;
}

/** Entries kept per object: the queueing benchmark's runs stay far below it. */
const LOG_LIMIT = 20_000;

/**
 * Only the queueing benchmark's keys and teams (alias "queueing-...") log, so every other section measures the
 * product's admission path exactly as it is.
 */
const logs = (alias: string | null | undefined): boolean => alias?.startsWith("queueing-") === true;

/**
 * Wraps an owner's admit so the queueing benchmark can read the exact admission instants (the product reports
 * only x-edgequota-queue-ms to the client). Reads what the product already keeps: the reservation's admittedAt and
 * bucket, taken the moment the answer resolves, before the call can settle.
 */
function logged(
  object: { store: { state: { reservations: Map<string, { admittedAt: number; bucket: number }> } } },
  log: AdmissionEntry[],
  input: AdmitInput,
  arrivedAt: number,
  answer: AdmitAnswer | Promise<AdmitAnswer>,
): AdmitAnswer | Promise<AdmitAnswer> {
  const note = (settled: AdmitAnswer): AdmitAnswer => {
    const reservation = settled.kind === "admitted" ? object.store.state.reservations.get(input.requestId) : undefined;
    if (reservation) {
      if (log.length >= LOG_LIMIT) log.shift();
      log.push({ requestId: input.requestId, arrivedAt, admittedAt: reservation.admittedAt, bucket: reservation.bucket, share: input.share ?? null });
    }
    return settled;
  };
  return answer instanceof Promise ? answer.then(note) : note(answer);
}

/**
 * The leases benchmark's keys (alias "leases-..."): the calls that reach their object are counted, and served one
 * at a time (see `served`), except "leases-unmodelled-..." keys, which are counted only.
 */
const leasesKey = (alias: string | null | undefined): boolean => alias?.startsWith("leases-") === true;
const modelled = (alias: string | null | undefined): boolean => leasesKey(alias) && !alias!.startsWith("leases-unmodelled-");

/** The calls that reached a "leases-" key's object, and the request ids it was asked to admit. */
export interface ObjectCalls {
  readonly admits: number;
  readonly finishes: number;
  readonly withdraws: number;
  readonly extends: number;
  /** Lease round trips; of them asking for a lease, granted, and what the grants lent (summed; null dimensions count 0). */
  readonly leases: number;
  readonly wants: number;
  readonly grants: number;
  readonly lentRequests: number;
  readonly lentTokens: number;
  /** Leases given back, the calls reported under them, and those that came back after the lease had ended. */
  readonly closed: number;
  readonly closedCalls: number;
  readonly expired: number;
  /** How long calls waited for their turn at the object (BENCH_OBJECT_SERVICE_MS), ms: lease round trips, the others. */
  readonly leaseWaits: number[];
  readonly otherWaits: number[];
  readonly admitted: string[];
}

/** Request ids and waits kept per object: the leases benchmark's runs stay below it. */
const ADMITTED_LIMIT = 200_000;
const WAITS_LIMIT = 100_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The key object plus a report of what it stores (bounded-state benchmark) and its admissions (queueing). */
export class KeyObject extends ProductKeyObject {
  private readonly admissions: AdmissionEntry[] = [];
  private readonly calls = {
    admits: 0, finishes: 0, withdraws: 0, extends: 0, leases: 0, wants: 0, grants: 0, lentRequests: 0, lentTokens: 0, closed: 0, closedCalls: 0, expired: 0,
    leaseWaits: [] as number[], otherWaits: [] as number[], admitted: [] as string[],
  };
  /** The end of the last call's turn at the object (BENCH_OBJECT_SERVICE_MS). */
  private serving: Promise<void> = Promise.resolve();

  /**
   * A Durable Object serves about 1,000 calls a second in production; on this machine the front doors saturate
   * long before one object does. BENCH_OBJECT_SERVICE_MS (authority only) models the object's own limit: a
   * "leases-" key's admit, finish, withdraw, extend and lease calls take their turn one at a time, each holding the
   * object that long (a timer, not a busy loop, so the front doors keep the CPU) before it is served.
   */
  private served<T>(work: () => T, waits = this.calls.otherWaits): T | Promise<Awaited<T>> {
    const serviceMs = Number((this.env as { BENCH_OBJECT_SERVICE_MS?: string }).BENCH_OBJECT_SERVICE_MS ?? 0);
    if (!(serviceMs > 0) || !modelled(this.record?.key_alias)) return work();
    const arrived = Date.now();
    const previous = this.serving;
    const turn = previous.then(() => {
      if (waits.length < WAITS_LIMIT) waits.push(Date.now() - arrived);
      return sleep(serviceMs);
    });
    this.serving = turn;
    return turn.then(work) as Promise<Awaited<T>>;
  }

  override admit(input: AdmitInput): AdmitAnswer | Promise<AdmitAnswer> {
    if (leasesKey(this.record?.key_alias)) {
      this.calls.admits++;
      if (this.calls.admitted.length < ADMITTED_LIMIT) this.calls.admitted.push(input.requestId);
      return this.served(() => super.admit(input));
    }
    if (!logs(this.record?.key_alias)) return super.admit(input);
    return logged(this as never, this.admissions, input, Date.now(), super.admit(input));
  }

  override lease(request: LeaseRequest): LeaseAnswer | Promise<LeaseAnswer> {
    if (!leasesKey(this.record?.key_alias)) return super.lease(request);
    const calls = this.calls;
    calls.leases++;
    const noted = (answer: LeaseAnswer): LeaseAnswer => {
      if (request.want) calls.wants++;
      if (answer.grant) {
        calls.grants++;
        calls.lentRequests += answer.grant.lease.requests ?? 0;
        calls.lentTokens += answer.grant.lease.tokens ?? 0;
      }
      calls.closed += request.close.length;
      for (const lease of request.close) calls.closedCalls += lease.calls.length;
      calls.expired += answer.expired.length;
      return answer;
    };
    const answer = this.served(() => super.lease(request), calls.leaseWaits);
    return answer instanceof Promise ? answer.then(noted) : noted(answer);
  }

  override finish(requestId: string, used: Usage | null, split?: TokenSplit): Promise<boolean> {
    if (!leasesKey(this.record?.key_alias)) return super.finish(requestId, used, split);
    this.calls.finishes++;
    return Promise.resolve(this.served(() => super.finish(requestId, used, split)));
  }

  override withdraw(requestId: string, reason?: string): Promise<boolean> {
    if (!leasesKey(this.record?.key_alias)) return super.withdraw(requestId, reason);
    this.calls.withdraws++;
    return Promise.resolve(this.served(() => super.withdraw(requestId, reason)));
  }

  override extend(requestId: string, tokens: number): Promise<boolean> {
    if (!leasesKey(this.record?.key_alias)) return super.extend(requestId, tokens);
    this.calls.extends++;
    return Promise.resolve(this.served(() => super.extend(requestId, tokens)));
  }

  /** What reached this object (a "leases-" key's only; zeros otherwise). */
  objectCalls(): ObjectCalls {
    return this.calls;
  }

  admissionLog(): AdmissionEntry[] {
    return this.admissions;
  }

  stats(): { databaseBytes: number; limiterEntries: number; ledgerRows: number; buckets: number; reservations: number } {
    let buckets = 0;
    for (const window of this.store.state.windows.values()) buckets += window.buckets.length;
    return {
      databaseBytes: this.ctx.storage.sql.databaseSize,
      limiterEntries: [...this.ctx.storage.kv.list({ prefix: "limiter/" })].length,
      ledgerRows: this.ledger.size,
      buckets,
      reservations: this.store.state.reservations.size,
    };
  }
}

/** The team object plus its admissions (queueing benchmark). */
export class TeamObject extends ProductTeamObject {
  private readonly admissions: AdmissionEntry[] = [];

  override admit(input: AdmitInput): AdmitAnswer | Promise<AdmitAnswer> {
    if (!logs(this.record?.team_alias)) return super.admit(input);
    return logged(this as never, this.admissions, input, Date.now(), super.admit(input));
  }

  admissionLog(): AdmissionEntry[] {
    return this.admissions;
  }
}
