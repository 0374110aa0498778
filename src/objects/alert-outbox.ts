import type { AlertEvent } from "../alerts/event";

const PREFIX = "alert/";
/** More pending events than this means delivery is down: the oldest are dropped (logged) so storage stays bounded. */
export const MAX_PENDING_ALERTS = 1_000;
/** An event never handed to the queue (the send failed) is retried this soon. */
const UNSENT_RETRY_MS = 5_000;

interface Pending {
  readonly event: AlertEvent;
  /** When it was last handed to the queue; null: never yet. */
  sentAt: number | null;
  sends: number;
}

/**
 * An owner object's alert events between the instant they happen and the webhook's acknowledgement. Each is stored
 * before it is sent, and sent again until the queue consumer acknowledges delivery (or gives up through the
 * dead-letter queue), so an event survives a lost queue message and a restart: at least once, same id each time.
 */
export class AlertOutbox {
  /** Pending events, counted once from storage and then kept in step, so bounding costs no listing per event. */
  private count: number | null = null;

  constructor(
    private readonly storage: DurableObjectStorage,
    /** Hands an event to the ALERTS queue; null when no queue is bound (alerts off). */
    private readonly send: ((event: AlertEvent) => Promise<void>) | null,
    private readonly resendAfterMs: number,
    /** Asks the owner to wake by then, to re-send what is still unacknowledged. */
    private readonly wakeBy: (at: number) => void,
  ) {}

  /** Records and sends an event; false when alerts are off or the event is already pending. */
  emit(event: AlertEvent, now: number): boolean {
    if (this.send === null || this.storage.kv.get(PREFIX + event.id) !== undefined) return false;
    this.bound();
    const before = this.size();
    const pending: Pending = { event, sentAt: null, sends: 0 };
    this.storage.kv.put(PREFIX + event.id, pending);
    this.count = before + 1;
    void this.deliver(pending, now);
    this.wakeBy(now + Math.min(UNSENT_RETRY_MS, this.resendAfterMs));
    return true;
  }

  /** The consumer delivered it (or gave up on it): forget it. */
  ack(id: string): boolean {
    const deleted = this.storage.kv.delete(PREFIX + id);
    if (deleted && this.count !== null) this.count--;
    return deleted;
  }

  /** Sends again what is due: never sent, or sent long enough ago without an acknowledgement. */
  resendDue(now: number): void {
    if (this.size() === 0) return;
    for (const pending of this.pending()) {
      if (pending.sentAt === null || pending.sentAt + this.resendAfterMs <= now) void this.deliver(pending, now);
    }
  }

  /** When the owner must wake to re-send, or null when nothing is pending. */
  nextWakeAt(now: number): number | null {
    // Asked after every operation of the owner: an empty outbox must cost no storage listing.
    if (this.size() === 0) return null;
    let next: number | null = null;
    for (const pending of this.pending()) {
      const at = pending.sentAt === null ? now + UNSENT_RETRY_MS : pending.sentAt + this.resendAfterMs;
      if (next === null || at < next) next = at;
    }
    return next;
  }

  size(): number {
    this.count ??= [...this.storage.kv.list({ prefix: PREFIX })].length;
    return this.count;
  }

  private pending(): Pending[] {
    return [...this.storage.kv.list<Pending>({ prefix: PREFIX })].map(([, value]) => value);
  }

  private async deliver(pending: Pending, now: number): Promise<void> {
    try {
      await this.send!(pending.event);
      // Still pending (not acknowledged meanwhile): remember when it went out.
      if (this.storage.kv.get(PREFIX + pending.event.id) !== undefined) {
        this.storage.kv.put(PREFIX + pending.event.id, { ...pending, sentAt: now, sends: pending.sends + 1 });
      }
    } catch (error) {
      console.error(`alert ${pending.event.id} not queued yet, will retry:`, error instanceof Error ? error.message : error);
    }
  }

  private bound(): void {
    const size = this.size();
    if (size < MAX_PENDING_ALERTS) return;
    const oldest = this.pending().sort((a, b) => Date.parse(a.event.at) - Date.parse(b.event.at)).slice(0, size - MAX_PENDING_ALERTS + 1);
    for (const pending of oldest) {
      console.error(`alert ${pending.event.id} dropped: ${MAX_PENDING_ALERTS} alerts pending, delivery is down`);
      this.ack(pending.event.id);
    }
  }
}
