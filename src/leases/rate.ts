/** Calls seen per second, over the last second: what tells a front door that an owner's traffic is steady. */
export class RateMeter {
  private readonly times: number[] = [];

  note(now: number): void {
    this.times.push(now);
    this.drop(now);
    // Bounded whatever the traffic: past this many calls a second, the exact figure no longer matters.
    if (this.times.length > MAX_TRACKED) this.times.splice(0, this.times.length - MAX_TRACKED);
  }

  perSecond(now: number): number {
    this.drop(now);
    return this.times.length;
  }

  private drop(now: number): void {
    let old = 0;
    while (old < this.times.length && this.times[old]! <= now - 1_000) old++;
    if (old > 0) this.times.splice(0, old);
  }
}

const MAX_TRACKED = 100_000;
