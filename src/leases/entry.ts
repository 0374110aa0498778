import type { HeldLease, Snapshot } from "../limiter";
import type { AdmittedExtras, LeasedFinish } from "../objects/protocol";
import type { LenderScope } from "./lender";
import type { RateMeter } from "./rate";

/** What a front door keeps of one owner and model: its leases, the calls that outlived them, its demand. */
export interface Entry {
  readonly scope: LenderScope;
  readonly name: string;
  readonly model: string;
  active: HeldLease | null;
  /** What the active lease's owner would answer an admission with. */
  granted: { snapshot: Snapshot; extras: AdmittedExtras } | null;
  /** Leases that admit no more calls, to be given back. */
  retired: HeldLease[];
  /** Calls still running when their lease went back: reservations at the owner now, settled as finishes. */
  converted: Set<string>;
  finishes: LeasedFinish[];
  refusals: string[];
  readonly rate: RateMeter;
  busy: boolean;
  /** The round trip under way asks for a lease: calls may wait for it rather than crowd the owner. */
  asking: boolean;
  /** No lease is asked for before this (after a refusal or a failed round trip). */
  askAfter: number;
  roundTripMs: number;
  /** Running averages of what calls reserve: what a lease is sized from. */
  typical: { tokens: number; cost: number };
  lastSeen: number;
  /** Calls admitted here under a lease, since the entry was made. */
  admittedLocally: number;
}
