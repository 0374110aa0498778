import { emptyState, hydrate, nextWakeAt, takeChanges, type LimiterState } from "../limiter";

const PREFIX = "limiter/";

/**
 * Persists a pure limiter state in a Durable Object's synchronous KV storage: hydrated once, then after every
 * operation only the handful of entries it touched are written. Shared by the key, team and deployment objects
 * so none of them owns persistence logic of its own.
 */
export class LimiterStore {
  state: LimiterState;
  private alarmAt: number | null;

  private constructor(
    private readonly storage: DurableObjectStorage,
    state: LimiterState,
    alarmAt: number | null,
  ) {
    this.state = state;
    this.alarmAt = alarmAt;
  }

  static async open(storage: DurableObjectStorage): Promise<LimiterStore> {
    const entries: Array<[string, unknown]> = [];
    for (const [name, value] of storage.kv.list({ prefix: PREFIX })) entries.push([name.slice(PREFIX.length), value]);
    return new LimiterStore(storage, hydrate(entries), await storage.getAlarm());
  }

  /** Writes what the last operations changed and makes sure the object wakes for the next deadline. */
  persist(): void {
    for (const [name, value] of takeChanges(this.state)) {
      if (value === undefined) this.storage.kv.delete(PREFIX + name);
      else this.storage.kv.put(PREFIX + name, value);
    }
    const wake = nextWakeAt(this.state);
    if (wake !== null && (this.alarmAt === null || wake < this.alarmAt || this.alarmAt <= this.state.clock)) {
      this.alarmAt = wake;
      void this.storage.setAlarm(wake);
    }
  }

  /** Makes sure the object wakes by `at` for work of its own (re-sending alerts), without delaying limiter wake-ups. */
  wakeBy(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at && this.alarmAt > this.state.clock) return;
    this.alarmAt = at;
    void this.storage.setAlarm(at);
  }

  /** Called from the object's alarm handler: the alarm that fired is no longer pending. */
  alarmFired(): void {
    this.alarmAt = null;
  }

  /** Forgets everything, in memory and in storage. */
  clear(): void {
    const names = [...this.storage.kv.list({ prefix: PREFIX })].map(([name]) => name);
    for (const name of names) this.storage.kv.delete(name);
    this.state = emptyState();
  }
}
