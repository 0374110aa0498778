import type { Bindings } from "../bindings";
import type { Config } from "../config/config";
import type { AdmitInput, Reserved } from "../objects/protocol";
import { leaseBook, type LeaseBook, type LocalAdmission } from "./book";
import type { LenderScope } from "./lender";

/** One call's access to the isolate's leases: admits it locally where a lease covers it, and keeps the leases tended. */
export class Leasing {
  constructor(
    private readonly env: Bindings,
    private readonly config: Config,
    private readonly waitUntil: (promise: Promise<unknown>) => void,
    private readonly book: LeaseBook = leaseBook,
  ) {}

  /** The call admitted under a lease of this owner, or null: the owner must be asked. */
  admit(scope: LenderScope, name: string, input: AdmitInput): LocalAdmission | null {
    if (!this.config.leases.enabled) return null;
    return this.book.admit(this.env, this.config, scope, name, input.model, input, Date.now());
  }

  /** Like admit, waiting briefly for a lease of this owner that is on its way (see LeaseBook.admitSoon). */
  async admitSoon(scope: Exclude<LenderScope, "deployment">, name: string, input: AdmitInput): Promise<LocalAdmission | null> {
    if (!this.config.leases.enabled) return null;
    // Demand is what sizes a lease, so a call counts when it arrives (a deployment's when it is admitted there, as a
    // call may try several of a group).
    this.book.arrive(scope, name, input.model, Date.now());
    return this.book.admitSoon(this.env, this.config, scope, name, input.model, input);
  }

  /** The call was admitted at this owner (locally or not): counted, and a round trip started if one is due. */
  admitted(scope: LenderScope, name: string, model: string, reserved: Reserved): void {
    if (!this.config.leases.enabled) return;
    if (scope === "deployment") this.book.arrive(scope, name, model, Date.now());
    this.book.observe(scope, name, model, reserved, Date.now());
    this.book.tendIfDue(this.env, this.config, scope, name, model, this.waitUntil);
  }

  /** A deployment failed: its lease stops admitting. */
  retire(scope: LenderScope, name: string, model: string): void {
    this.book.retireLease(scope, name, model);
  }
}
