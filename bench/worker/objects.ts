import { KeyObject as ProductKeyObject, TeamObject as ProductTeamObject } from "../../src/index";
import type { AdmitAnswer, AdmitInput } from "../../src/objects/protocol";

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

/** The key object plus a report of what it stores (bounded-state benchmark) and its admissions (queueing). */
export class KeyObject extends ProductKeyObject {
  private readonly admissions: AdmissionEntry[] = [];

  override admit(input: AdmitInput): AdmitAnswer | Promise<AdmitAnswer> {
    if (!logs(this.record?.key_alias)) return super.admit(input);
    return logged(this as never, this.admissions, input, Date.now(), super.admit(input));
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
