import { KeyObject as ProductKeyObject } from "../../src/index";

/** The key object plus a report of what it stores, for the bounded-state benchmark. */
export class KeyObject extends ProductKeyObject {
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
