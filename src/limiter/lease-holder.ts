import { outputBound } from "./admit";
import type { LeaseSizing, LeasedCall } from "./lease";
import { worstCost, type AdmissionRequest, type TokenSplit, type Usage } from "./limiter";
import type { Lease } from "./state";

/**
 * Leases, the front door's side: admitting calls against a borrowed slice with no round trip, and keeping what
 * they used until the lease goes back. Pure and synchronous, so the exactness argument can be tested with a fake
 * clock: a call is admitted only when what it reserves (sized as its owner would size it) fits in what is left of
 * the lease, so the calls under a lease never hold more than the owner lent.
 */

/** A lease as a front door holds it: the grant, and the calls admitted under it so far. */
export interface HeldLease {
  readonly lease: Lease;
  readonly sizing: LeaseSizing;
  readonly calls: Map<string, LeasedCall>;
  /** What the calls use now: live calls their reservation, ended ones what they really used. */
  tokens: number;
  cost: number;
  requests: number;
  /** Calls in flight. */
  live: number;
  /** No call is admitted under it any more (it is being given back). */
  closed: boolean;
}

export function holdLease(lease: Lease, sizing: LeaseSizing): HeldLease {
  return { lease, sizing, calls: new Map(), tokens: 0, cost: 0, requests: 0, live: 0, closed: false };
}

export type LocalRequest = Pick<AdmissionRequest, "requestId" | "promptTokens" | "promptExact" | "promptLowerBound" | "maxOutputTokens" | "price" | "cacheWrites" | "endUser">;

/** Tokens and money a call reserves, sized as its owner would size it from the lease's sizing. */
export function sizeCall(sizing: LeaseSizing, request: LocalRequest): { tokens: number; promptTokens: number; cost: number | null } {
  const prompt = request.promptExact ? request.promptTokens : Math.min(request.promptTokens, Math.ceil(request.promptTokens * sizing.promptRatio));
  const strictOutput = outputBound(sizing.defaultOutputTokens, request, sizing.tightestTpm === null ? [] : [sizing.tightestTpm]);
  const output = sizing.output === null ? strictOutput : Math.min(sizing.output, request.maxOutputTokens ?? sizing.output);
  const cost = request.price ? worstCost(request.price, request.promptTokens, strictOutput, request.cacheWrites === true) : null;
  return { tokens: prompt + output, promptTokens: prompt, cost };
}

/**
 * Admits a call under the lease, or null when the lease cannot cover it (expired or closing, or not enough left of
 * any dimension): the call then goes to the owner. `margin`: the lease stops admitting this long before it ends,
 * so it can be given back in time.
 */
export function useLease(held: HeldLease, request: LocalRequest, now: number, margin: number): LeasedCall | null {
  const { lease } = held;
  if (held.closed || now >= lease.expiresAt - margin || now < lease.grantedAt) return null;
  const { tokens, promptTokens, cost } = sizeCall(held.sizing, request);
  // A call with no known price cannot be held against a money limit: the owner decides (and refuses) it.
  if (cost === null && lease.cost !== null) return null;
  if (lease.tokens !== null && held.tokens + tokens > lease.tokens) return null;
  if (lease.requests !== null && held.requests + 1 > lease.requests) return null;
  if (lease.slots !== null && held.live + 1 > lease.slots) return null;
  if (lease.cost !== null && held.cost + (cost ?? 0) > lease.cost) return null;
  const call: LeasedCall = {
    requestId: request.requestId,
    admittedAt: now,
    tokens,
    promptTokens,
    promptBound: request.promptTokens,
    promptExact: request.promptExact === true,
    cost: cost ?? 0,
    ...(request.endUser ? { endUser: request.endUser } : {}),
  };
  held.calls.set(call.requestId, call);
  held.tokens += tokens;
  held.cost += call.cost;
  held.requests += 1;
  held.live += 1;
  return call;
}

/**
 * The call ended (used null: nothing consumed). Its real usage replaces its reservation in the lease, so what it
 * did not use can admit other calls. false when the lease does not hold it live.
 */
export function endLeasedCall(held: HeldLease, requestId: string, used: Usage | null, split: TokenSplit | undefined, now: number): boolean {
  const call = held.calls.get(requestId);
  if (!call || call.ended) return false;
  held.tokens += (used?.tokens ?? 0) - call.tokens;
  held.cost += (used?.cost ?? 0) - call.cost;
  held.live -= 1;
  held.calls.set(requestId, { ...call, ended: { used, ...(split ? { split } : {}), at: now } });
  return true;
}

/** A later owner refused the call: as if it had never been admitted here. */
export function cancelLeasedCall(held: HeldLease, requestId: string): boolean {
  const call = held.calls.get(requestId);
  if (!call || call.ended) return false;
  held.calls.delete(requestId);
  held.tokens -= call.tokens;
  held.cost -= call.cost;
  held.requests -= 1;
  held.live -= 1;
  return true;
}

/**
 * A stream outgrew its reservation: it grows now, whatever is left of the lease (the tokens are being used), so
 * the lease may end overdrawn; giving it back charges what the calls really used.
 */
export function growLeasedCall(held: HeldLease, requestId: string, tokens: number): boolean {
  const call = held.calls.get(requestId);
  if (!call || call.ended || !(tokens > 0)) return false;
  held.calls.set(requestId, { ...call, tokens: call.tokens + Math.ceil(tokens) });
  held.tokens += Math.ceil(tokens);
  return true;
}

/** Stops admitting under the lease and lists its calls for the owner. */
export function closeHeldLease(held: HeldLease): LeasedCall[] {
  held.closed = true;
  return [...held.calls.values()];
}

/** How much of the lease is used, as the largest fraction over its limited dimensions (0 when none is limited). */
export function leaseUsed(held: HeldLease): number {
  const { lease } = held;
  const parts = [
    lease.tokens !== null && lease.tokens > 0 ? held.tokens / lease.tokens : 0,
    lease.requests !== null && lease.requests > 0 ? held.requests / lease.requests : 0,
    lease.cost !== null && lease.cost > 0 ? held.cost / lease.cost : 0,
  ];
  return Math.max(...parts);
}
