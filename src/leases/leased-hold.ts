import { cancelLeasedCall, endLeasedCall, growLeasedCall, type HeldLease, type TokenSplit, type Usage } from "../limiter";
import type { Owner } from "../objects/protocol";
import type { Entry } from "./entry";

/** What a leased call's hold needs from the book: delivering the next batch, and reaching the owner. */
export interface OwnerSide {
  /** Makes sure the batch holding a just-ended call reaches the owner (from the calling request). */
  deliver(): Promise<void>;
  /** Grows a call that is a reservation at the owner now. */
  extendAtOwner(requestId: string, tokens: number): Promise<boolean>;
}

/** How a leased call ends at its owner: in the lease while it is held here, as a batched finish once it went back. */
export function leasedHold(entry: Entry, owner: OwnerSide): Pick<Owner, "finish" | "withdraw" | "extend"> {
  const heldWith = (requestId: string): HeldLease | undefined => [entry.active, ...entry.retired].find((held) => held?.calls.has(requestId)) ?? undefined;
  return {
    finish: async (requestId: string, used: Usage | null, split?: TokenSplit) => {
      const now = Date.now();
      const held = heldWith(requestId);
      if (held) {
        entry.converted.delete(requestId);
        return endLeasedCall(held, requestId, used, split, now);
      }
      if (!entry.converted.delete(requestId)) return false;
      entry.finishes.push({ requestId, used, ...(split ? { split } : {}), at: now });
      await owner.deliver();
      return true;
    },
    withdraw: async (requestId: string, reason?: string) => {
      if (reason !== undefined) entry.refusals.push(reason);
      const held = heldWith(requestId);
      if (held) return cancelLeasedCall(held, requestId);
      // Already given back as in flight: it ends as a call that used nothing.
      if (!entry.converted.delete(requestId)) return false;
      entry.finishes.push({ requestId, used: null, at: Date.now() });
      return true;
    },
    extend: async (requestId: string, tokens: number) => {
      const held = heldWith(requestId);
      if (held) return growLeasedCall(held, requestId, tokens);
      return entry.converted.has(requestId) ? owner.extendAtOwner(requestId, tokens) : false;
    },
  };
}
