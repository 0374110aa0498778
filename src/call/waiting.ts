import { ApiError } from "../http/errors";
import type { AdmitAnswer, AdmitInput } from "../objects/protocol";

/**
 * How long a call may still wait for capacity, and whether its client is still there. A wait bound the client
 * sent (x-edgequota-max-wait-ms) covers the whole admission: each owner is asked with what is left of it.
 */
export class Waiting {
  /** Time spent waiting in owners' queues so far (x-edgequota-queue-ms, and the spend log). */
  queuedMs = 0;
  private readonly deadline: number | null;

  constructor(
    maxWaitMs: number | null,
    private readonly signal: AbortSignal | null,
  ) {
    this.deadline = maxWaitMs === null ? null : Date.now() + maxWaitMs;
  }

  /** The input to send an owner: the wait left, or null for the owner's own max_wait_ms. */
  inputFor(input: AdmitInput, noWait = false): AdmitInput {
    if (noWait) return { ...input, maxWaitMs: 0 };
    return this.deadline === null ? input : { ...input, maxWaitMs: Math.max(0, this.deadline - Date.now()) };
  }

  /**
   * Asks one owner, and tells it to drop the call from its queue if the client goes away meanwhile. An answer
   * that arrives after the client left still counts (the caller records the hold), then the call ends here.
   */
  async ask(owner: { leave(requestId: string): Promise<boolean> }, requestId: string, question: () => Promise<AdmitAnswer>): Promise<AdmitAnswer> {
    this.checkClient();
    const leave = () => void owner.leave(requestId).catch(() => false);
    this.signal?.addEventListener("abort", leave);
    try {
      const answer = await question();
      if (answer.kind === "admitted" || answer.kind === "rejected") this.queuedMs += answer.queuedMs ?? 0;
      return answer;
    } finally {
      this.signal?.removeEventListener("abort", leave);
    }
  }

  /** Throws once the client is gone: nothing more is reserved for it. */
  checkClient(): void {
    if (this.signal?.aborted) throw new ApiError("client_closed", "The client disconnected while the call waited for capacity.");
  }
}
