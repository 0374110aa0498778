import type { Bindings } from "../bindings";
import type { Config } from "../config/config";
import {
  closeHeldLease,
  holdLease,
  leaseUsed,
  useLease,
  type HeldLease,
  type LeaseWant,
  type LocalRequest,
  type Snapshot,
  } from "../limiter";
import type { AdmittedExtras, Owner, Reserved } from "../objects/protocol";
import type { Entry } from "./entry";
import { leasedHold } from "./leased-hold";
import { lenderOf, type LenderScope } from "./lender";
import { RateMeter } from "./rate";

/**
 * A front door's leases, one entry per owner and model, kept in the isolate's memory. Calls are admitted against
 * the active lease with no round trip; what they used goes back with the next round trip to the owner, which a later
 * call's waitUntil makes (a stub belongs to the request that made it, so nothing here keeps one). The request that
 * obtained a lease also guards it: its waitUntil wakes shortly before the lease ends and gives it back if nobody
 * else did, so a lease outlives its front door's traffic by at most its own length.
 */

/** A lease is renewed once this fraction of its time or of its capacity is used (or sooner, see plan). */
const RENEW_AT = 0.5;
/** A lease is asked for this many times the calls seen in the last second over its length. */
const HEADROOM = 3;
/** A lease lasts at least this many round trips to its owner, so it can be renewed and given back in time. */
const ROUND_TRIPS_PER_LEASE = 6;
/** Calls that outlived their lease are settled in batches, at most this long after they end. */
const FINISH_BATCH_MS = 250;
const MAX_FINISHES = 256;
/** Round trips one tending makes at most (a renewal, then giving back the lease it replaced). */
const MAX_ROUNDS = 3;
/** Longest a call waits for a lease on its way before it asks the owner itself, and how often it looks. */
const MAX_WAIT_FOR_LEASE_MS = 500;
const WAIT_STEP_MS = 5;
/** Leases one request guards in a row at most (a waitUntil may not run for ever). */
const MAX_GUARDS = 8;
/** Entries kept before idle ones are forgotten. */
const MAX_ENTRIES = 10_000;


/** A call admitted under a lease: its hold at the owner is this front door's book until the lease goes back. */
export interface LocalAdmission {
  readonly owner: Pick<Owner, "finish" | "withdraw" | "extend">;
  readonly reserved: Reserved;
  readonly snapshot: Snapshot;
  readonly extras: AdmittedExtras;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

export class LeaseBook {
  private readonly entries = new Map<string, Entry>();

  /** Admits a call under the owner's active lease, or null (the caller asks the owner). Counts the call either way. */
  admit(env: Bindings, config: Config, scope: LenderScope, name: string, model: string, request: LocalRequest, now: number): LocalAdmission | null {
    const entry = this.entry(scope, name, model, now);
    if (!entry.active || !entry.granted) return null;
    const call = useLease(entry.active, request, now, this.marginOf(config, entry));
    if (!call) return null;
    entry.admittedLocally++;
    return {
      // A call that outlived its lease is settled with the next batch, which its own waitUntil delivers if need be.
      owner: leasedHold(entry, {
        deliver: async () => {
          await sleep(FINISH_BATCH_MS);
          await this.tend(env, config, entry);
        },
        extendAtOwner: (requestId, tokens) => lenderOf(env, entry.scope, entry.name).extend(requestId, tokens),
      }),
      reserved: { tokens: call.tokens, cost: call.cost, promptTokens: call.promptTokens },
      snapshot: entry.granted.snapshot,
      extras: entry.granted.extras,
    };
  }

  /**
   * Like admit, but when a lease for the owner is on its way (asked for, not yet answered), waits up to about one
   * round trip for it before giving up: under a hot key, calls that would otherwise all go to the owner while its
   * lease is renewed are what keeps the owner too busy to answer the renewal quickly.
   */
  async admitSoon(env: Bindings, config: Config, scope: LenderScope, name: string, model: string, request: LocalRequest): Promise<LocalAdmission | null> {
    const first = this.admit(env, config, scope, name, model, request, Date.now());
    const entry = this.entries.get(key(scope, name, model));
    if (first || !entry?.asking) return first;
    const until = Date.now() + Math.min(MAX_WAIT_FOR_LEASE_MS, Math.max(50, 1.5 * entry.roundTripMs));
    while (entry.asking && Date.now() < until) {
      await sleep(WAIT_STEP_MS);
      const admitted = this.admit(env, config, scope, name, model, request, Date.now());
      if (admitted) return admitted;
    }
    return this.admit(env, config, scope, name, model, request, Date.now());
  }

  /** A call arrives for the owner: the demand a lease is sized from. */
  arrive(scope: LenderScope, name: string, model: string, now: number): void {
    this.entry(scope, name, model, now).rate.note(now);
  }

  /** A call admitted (here or by the owner): what calls reserve sizes the next lease. */
  observe(scope: LenderScope, name: string, model: string, reserved: Reserved, now: number): void {
    const entry = this.entry(scope, name, model, now);
    entry.typical.tokens = entry.typical.tokens === 0 ? reserved.tokens : entry.typical.tokens + 0.1 * (reserved.tokens - entry.typical.tokens);
    entry.typical.cost = entry.typical.cost === 0 ? reserved.cost : entry.typical.cost + 0.1 * (reserved.cost - entry.typical.cost);
  }

  /** Starts a round trip for the owner in `waitUntil` when one is due (a lease to ask for, renew or give back). */
  tendIfDue(env: Bindings, config: Config, scope: LenderScope, name: string, model: string, waitUntil: (promise: Promise<unknown>) => void): void {
    const entry = this.entries.get(key(scope, name, model));
    if (!entry || entry.busy || this.plan(config, entry, Date.now()) === null) return;
    waitUntil(this.tend(env, config, entry));
  }

  /** The owner's lease admits no more calls (a deployment failed): it goes back with the next round trip. */
  retireLease(scope: LenderScope, name: string, model: string): void {
    const entry = this.entries.get(key(scope, name, model));
    if (entry) this.retire(entry);
  }

  /**
   * The owner's settings changed (blocked, limits, models, deleted): every lease this front door holds of it stops
   * admitting, so the change applies here at once; other front doors' leases end within a lease.
   */
  retireOwner(scope: LenderScope, name: string): void {
    for (const entry of this.entries.values()) if (entry.scope === scope && entry.name === name) this.retire(entry);
  }

  /** The live leases of this front door, for tests and the benchmark. */
  held(scope: LenderScope, name: string, model: string): { active: HeldLease | null; retired: number; converted: number; finishes: number; admittedLocally: number } {
    const entry = this.entries.get(key(scope, name, model));
    return {
      active: entry?.active ?? null,
      retired: entry?.retired.length ?? 0,
      converted: entry?.converted.size ?? 0,
      finishes: entry?.finishes.length ?? 0,
      admittedLocally: entry?.admittedLocally ?? 0,
    };
  }

  private entry(scope: LenderScope, name: string, model: string, now: number): Entry {
    const id = key(scope, name, model);
    let entry = this.entries.get(id);
    if (!entry) {
      if (this.entries.size >= MAX_ENTRIES) this.forgetIdle(now);
      entry = {
        scope, name, model, active: null, granted: null, retired: [], converted: new Set(), finishes: [], refusals: [],
        rate: new RateMeter(), busy: false, asking: false, askAfter: 0, roundTripMs: 0, typical: { tokens: 0, cost: 0 }, lastSeen: now, admittedLocally: 0,
      };
      this.entries.set(id, entry);
    }
    entry.lastSeen = now;
    return entry;
  }

  private forgetIdle(now: number): void {
    for (const [id, entry] of this.entries) {
      const quiet = !entry.active && entry.retired.length === 0 && entry.converted.size === 0 && entry.finishes.length === 0 && !entry.busy;
      if (quiet && now - entry.lastSeen > 10_000) this.entries.delete(id);
    }
  }

  /**
   * A lease stops admitting this long before it ends, so giving it back reaches the owner in time: LEASE_MARGIN_MS,
   * or two round trips when the owner answers slower (never more than half a lease: leases last six round trips).
   */
  private marginOf(config: Config, entry: Entry, held: HeldLease | null = entry.active): number {
    const margin = Math.max(config.leases.marginMs, 2 * entry.roundTripMs);
    return held ? Math.min(margin, (held.lease.expiresAt - held.lease.grantedAt) / 2) : margin;
  }

  /** What is due now: null when nothing; else the lease to ask for (null: only give back and settle). */
  private plan(config: Config, entry: Entry, now: number): { want: LeaseWant | null } | null {
    const active = entry.active;
    if (active && now >= active.lease.expiresAt - this.marginOf(config, entry)) this.retire(entry);
    const current = entry.active;
    // Renewed at half its time or capacity, and early enough for the new lease to arrive before this one stops.
    const renewAt = current
      ? Math.min(current.lease.grantedAt + (current.lease.expiresAt - current.lease.grantedAt) * RENEW_AT, current.lease.expiresAt - this.marginOf(config, entry) - 1.5 * entry.roundTripMs)
      : 0;
    const renewDue = !current || now >= renewAt || leaseUsed(current) >= RENEW_AT;
    const steady = entry.rate.perSecond(now) >= config.leases.minRate;
    const want = config.leases.enabled && steady && renewDue && now >= entry.askAfter ? this.want(config, entry, now) : null;
    const finishesDue = entry.finishes.length >= MAX_FINISHES || (entry.finishes.length > 0 && now - entry.finishes[0]!.at >= FINISH_BATCH_MS);
    if (!want && entry.retired.length === 0 && !finishesDue && entry.refusals.length === 0) return null;
    return { want };
  }

  /**
   * Enough for HEADROOM times the calls the front door saw in the last second over one lease's length, so a renewal
   * at half its time or capacity arrives before it runs out, and traffic growing past what one object admits
   * (a hot key) gets room to grow. A lease lasts LEASE_MS, or six round trips to a slow owner (at most four
   * LEASE_MS; the owner caps it). The owner lends less when it has less room (lease.ts).
   */
  private want(config: Config, entry: Entry, now: number): LeaseWant | null {
    if (entry.typical.tokens === 0) return null;
    const durationMs = Math.min(4 * config.leases.durationMs, Math.max(config.leases.durationMs, ROUND_TRIPS_PER_LEASE * entry.roundTripMs));
    const calls = Math.max(2, Math.ceil((HEADROOM * entry.rate.perSecond(now) * durationMs) / 1_000));
    return {
      leaseId: crypto.randomUUID(),
      model: entry.model,
      durationMs,
      tokens: Math.ceil(calls * entry.typical.tokens),
      requests: calls,
      slots: calls,
      cost: Math.ceil(calls * entry.typical.cost),
      minTokens: Math.ceil(entry.typical.tokens),
      minCost: Math.ceil(entry.typical.cost),
    };
  }

  private retire(entry: Entry): void {
    if (!entry.active) return;
    entry.active.closed = true;
    entry.retired.push(entry.active);
    entry.active = null;
    entry.granted = null;
  }

  /**
   * Makes the round trips that are due, from the current request. A request that obtains a lease then sleeps until
   * that lease must be given back and makes sure it is (or renews it, if calls are still coming). Under steady
   * traffic a later call renews first, so the guard wakes to nothing; the chain is bounded all the same.
   */
  private async tend(env: Bindings, config: Config, entry: Entry, guards = MAX_GUARDS): Promise<void> {
    let obtained: number | null = null;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      // Another request is talking to this owner: let it finish (its promise belongs to its own request).
      for (let waits = 0; entry.busy && waits < 40; waits++) await sleep(25);
      if (entry.busy) return;
      const plan = this.plan(config, entry, Date.now());
      if (!plan) break;
      const lease = await this.roundTrip(env, config, entry, plan.want);
      if (lease !== null) obtained = lease;
    }
    if (obtained !== null && guards > 0) {
      await sleep(obtained - this.marginOf(config, entry) - Date.now());
      await this.tend(env, config, entry, guards - 1);
    }
  }

  /** One round trip to the owner: gives back retired leases, settles finishes, asks for `want`. The new lease's end, or null. */
  private async roundTrip(env: Bindings, config: Config, entry: Entry, want: LeaseWant | null): Promise<number | null> {
    entry.busy = true;
    entry.asking = want !== null;
    const closing = entry.retired.splice(0);
    const close = closing.map((held) => ({ leaseId: held.lease.leaseId, calls: closeHeldLease(held) }));
    for (const { calls } of close) for (const call of calls) if (!call.ended) entry.converted.add(call.requestId);
    const finishes = entry.finishes.splice(0);
    const refusals = entry.refusals.splice(0);
    const started = Date.now();
    try {
      const answer = await lenderOf(env, entry.scope, entry.name).lease({ close, finishes, refusals, want }, entry.name);
      entry.roundTripMs = Date.now() - started;
      const expired = new Set(answer.expired);
      // An expired lease was charged in full: its calls are no reservations at the owner, nothing to settle later.
      for (const { leaseId, calls } of close) if (expired.has(leaseId)) for (const call of calls) entry.converted.delete(call.requestId);
      if (answer.grant) {
        this.retire(entry);
        entry.active = holdLease(answer.grant.lease, answer.grant.sizing);
        entry.granted = { snapshot: answer.grant.snapshot, extras: answer.grant.extras };
        return answer.grant.lease.expiresAt;
      }
      if (want) entry.askAfter = Date.now() + config.leases.durationMs / 2;
      return null;
    } catch (error) {
      // Not reached: try again while the leases can still be given back in time. Past that the owner charges them
      // in full, which covers every call under them, and their calls are no reservations there.
      const now = Date.now();
      for (const held of closing) {
        if (now < held.lease.expiresAt - this.marginOf(config, entry, held) / 2) entry.retired.push(held);
        else for (const call of held.calls.values()) entry.converted.delete(call.requestId);
      }
      entry.finishes.unshift(...finishes);
      entry.refusals.unshift(...refusals);
      entry.askAfter = now + config.leases.durationMs;
      console.error(`lease round trip to ${entry.scope} failed:`, error instanceof Error ? error.message : error);
      return null;
    } finally {
      entry.busy = false;
      entry.asking = false;
    }
  }

}

const key = (scope: LenderScope, name: string, model: string): string => `${scope}\u0000${name}\u0000${model}`;

/** The isolate's book: every request this isolate serves shares it. */
export const leaseBook = new LeaseBook();
