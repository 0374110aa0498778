import type { Config } from "../config/config";
import { closeLease, grantLease, release, settle, snapshot, type Limits, type LimiterState, type Settlement } from "../limiter";
import type { AdmittedExtras, LeaseAnswer, LeaseRequest } from "./protocol";

/** Whether and how this owner may lend now: null when it must not (leases off, calls waiting, a rule refuses). */
export interface LendTerms {
  readonly extras: AdmittedExtras;
  /** The lease may not outlive this instant (a key's expiry). */
  readonly until: number | null;
}

/**
 * One lease round trip at an owner, on its limiter state: leases given back are closed with their calls, calls that
 * outlived their lease settle, and a new lease is lent when the owner may. Returns the answer and the settlements
 * for the spend ledger; the object persists and serves its queue after.
 */
export function lend(
  state: LimiterState,
  limits: Limits,
  config: Config,
  request: LeaseRequest,
  terms: LendTerms | null,
  now: number,
): { answer: LeaseAnswer; settlements: Settlement[] } {
  const expired: string[] = [];
  const settlements: Settlement[] = [];
  for (const { leaseId, calls } of request.close) {
    const closed = closeLease(state, limits, leaseId, calls, now);
    if (!closed.found) expired.push(leaseId);
    settlements.push(...closed.settlements);
  }
  for (const finish of request.finishes) {
    const done = finish.used
      ? settle(state, limits, finish.requestId, finish.used, now, finish.split, finish.at)
      : release(state, limits, finish.requestId, now);
    if (done) settlements.push(done);
  }
  let grant: LeaseAnswer["grant"] = null;
  // LEASES=off is obeyed by front doors, which then ask for none.
  if (request.want && terms) {
    // A front door far from the owner asks for longer leases (several round trips), up to four LEASE_MS.
    const asked = Math.max(config.leases.durationMs, Math.min(request.want.durationMs ?? 0, 4 * config.leases.durationMs));
    const durationMs = Math.min(asked, terms.until === null ? Number.POSITIVE_INFINITY : terms.until - now);
    if (durationMs > 0) {
      const lent = grantLease(state, limits, request.want, { durationMs, minFree: config.leases.minFree, share: config.leases.share }, now);
      if (lent.ok) grant = { lease: lent.lease, sizing: lent.sizing, snapshot: snapshot(state, limits, now), extras: terms.extras };
    }
  }
  return { answer: { expired, grant }, settlements };
}
