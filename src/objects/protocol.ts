import type { EstimatesReport, Lease, LeasedCall, LeaseSizing, LeaseWant, Price, Rejection, Snapshot, TokenSplit, Usage } from "../limiter";
import type { EndUserDefaults, EndUserRecord, EndUserSettings } from "../schemas/end-user";
import type { KeyRecord, KeySettings } from "../schemas/key";
import type { TeamRecord, TeamSettings } from "../schemas/team";
import type { RefusalCount } from "./refusal-log";
import type { LedgerEntry } from "./spend-ledger";

/**
 * The owner protocol: what the front door asks of every limiter owner (key, team, deployment) for one call,
 * and the one shape every owner answers with. A call is admitted by each of its owners in turn and then
 * finished or withdrawn at each of them.
 */

/** What a front door asks an owner to reserve for one call. */
export interface AdmitInput {
  readonly requestId: string;
  readonly model: string;
  /** Upper bound of the prompt's tokens: the tokenizer's count where the model's tokenizer is known. */
  readonly promptTokens: number;
  /** promptTokens is a tokenizer count, not the byte bound (which owners calibrate per model). */
  readonly promptExact: boolean;
  /** Tokens the prompt has at least: a request is too large only when this exceeds a limit. */
  readonly promptLowerBound: number;
  /** The client's output cap, or null when it set none. */
  readonly maxOutputTokens: number | null;
  /** null when the model has no known price. */
  readonly price: Price | null;
  /** Where `price` came from, for the spend log (owners do not need it to admit). */
  readonly priceSource?: string | null;
  /** The prompt marks cache_control: its money is reserved at the cache-write price. */
  readonly cacheWrites?: boolean;
  /** The end user the call is made for (OpenAI's `user`, Anthropic's metadata.user_id), recorded in spend logs. */
  readonly endUser?: string | null;
  /** How long the call may wait for capacity at this owner (x-edgequota-max-wait-ms); null: the owner's max_wait_ms. */
  readonly maxWaitMs?: number | null;
  /** Fairness unit among waiting calls: the key the call comes from. */
  readonly share?: string;
  /** The key's priority class, for owners with a priority_reservation. */
  readonly priority?: string | null;
}

/** What an owner reserved for a call: tokens and money, and how much of the tokens is for the prompt. */
export interface Reserved extends Usage {
  readonly promptTokens: number;
}

/** Why an owner turns a call away by a rule rather than a limit: waiting will not help. */
export interface Refusal {
  readonly code:
    | "invalid_api_key"
    | "key_expired"
    | "key_blocked"
    | "model_not_allowed"
    | "team_blocked"
    | "team_model_not_allowed"
    | "team_not_found"
    | "end_user_blocked";
  readonly message: string;
}

/** An owner's answer to `admit`; only what the front door needs travels back, as every call pays for it. */
export type AdmitAnswer =
  /**
   * Reserved. Keys also say what admits the call next: `teamId` (null: no team) and the limits of end users
   * seen through the key that were never registered (`endUserDefaults`, null: the gateway's own).
   */
  | {
      readonly kind: "admitted";
      readonly reserved: Reserved;
      readonly snapshot: Snapshot;
      readonly teamId: string | null;
      readonly endUserDefaults?: EndUserDefaults | null;
      /** How long the call waited in this owner's queue before it fitted. */
      readonly queuedMs?: number;
      /** Keys only: the key's priority class and default wait bound, for the owners after it. */
      readonly priority?: string | null;
    }
  | { readonly kind: "refused"; readonly refusal: Refusal }
  | { readonly kind: "rejected"; readonly rejection: Rejection; readonly snapshot: Snapshot; readonly queuedMs?: number }
  /** A deployment resting after upstream errors. */
  | { readonly kind: "cooling_down"; readonly waitMs: number; readonly snapshot: Snapshot }
  /** A deployment id no longer configured, or an end user with no limits anywhere: the front door skips it. */
  | { readonly kind: "unknown" }
  /** The call left the queue before it was admitted (its client went away). */
  | { readonly kind: "left" };

export interface Owner {
  /**
   * `name` is the owner's own name as the front door addressed it (an object cannot read it from its id). A call
   * that may wait (maxWaitMs) and does not fit yet is answered when it does, or when it can no longer in time.
   */
  admit(input: AdmitInput, name: string): AdmitAnswer | Promise<AdmitAnswer>;
  /** The call's client went away while it waited in this owner's queue: drop it, reserve nothing for it. */
  leave(requestId: string): Promise<boolean>;
  /** The alert queue's consumer delivered this owner's alert (or gave up on it): stop re-sending it. */
  ackAlert(id: string): Promise<boolean>;
  /**
   * Ends a reservation with real usage, or with nothing consumed (`null`). `split` (the upstream's prompt and
   * completion tokens) is what the owner learns its estimates from. false when it had already ended.
   */
  finish(requestId: string, used: Usage | null, split?: TokenSplit): Promise<boolean>;
  /** A streaming call generates past its reservation: grow it by `tokens` now. false when it already ended. */
  extend(requestId: string, tokens: number): Promise<boolean>;
  /**
   * Undoes an admission another owner refused: as if the call had never been made. `reason` names that refusal
   * ("team:rpm_limit", "deployment:otpm"...), counted among this owner's refusals.
   */
  withdraw(requestId: string, reason?: string): Promise<boolean>;
}

/** What a key tells the owners after it: the extras of its admission answer. */
export type AdmittedExtras = Pick<Extract<AdmitAnswer, { kind: "admitted" }>, "teamId" | "endUserDefaults" | "priority">;

/** A call admitted under a lease that was given back while it ran, and has now ended (used null: nothing used). */
export interface LeasedFinish {
  readonly requestId: string;
  readonly used: Usage | null;
  readonly split?: TokenSplit;
  readonly at: number;
}

/** One round trip a front door makes for its leases at an owner (src/limiter/lease.ts). */
export interface LeaseRequest {
  /** Leases given back, with every call admitted under them. */
  readonly close: ReadonlyArray<{ readonly leaseId: string; readonly calls: readonly LeasedCall[] }>;
  readonly finishes: readonly LeasedFinish[];
  /** Why later owners refused calls admitted here under a lease ("team:rpm_limit"...), for this owner's refusal counts. */
  readonly refusals: readonly string[];
  /** A new lease to lend, or null. */
  readonly want: LeaseWant | null;
}

export interface LeaseAnswer {
  /** Leases in `close` that had already ended (charged in full): their calls did not become reservations. */
  readonly expired: readonly string[];
  /** The lease lent, with how to size calls as this owner does and what its admission answer would carry. */
  readonly grant: { readonly lease: Lease; readonly sizing: LeaseSizing; readonly snapshot: Snapshot; readonly extras: AdmittedExtras } | null;
}

/** Owners that lend leases (keys, teams, deployments). */
export interface Lender {
  lease(request: LeaseRequest, name: string): LeaseAnswer | Promise<LeaseAnswer>;
}

export interface View<R> {
  readonly record: R;
  readonly snapshot: Snapshot;
  /** Calls waiting for capacity at this owner now, and how long the oldest has waited. */
  readonly queue: { readonly length: number; readonly oldestWaitMs: number | null };
  /** Calls refused, by reason, since the owner was created. */
  readonly refusals: Readonly<Record<string, RefusalCount>>;
  /** What the owner learned of its calls: what adaptive reservations are sized from. */
  readonly learned: EstimatesReport;
}

export type KeyView = View<KeyRecord>;
export type TeamView = View<TeamRecord>;

/** Owners that keep a record and a spend ledger (keys and teams). */
interface RecordOwner<R> extends Owner {
  exists(): boolean;
  view(): View<R> | null;
  destroy(): R | null;
  spendLog(limit: number): LedgerEntry[] | null;
}

export interface KeyService extends RecordOwner<KeyRecord>, Lender {
  /** false when the object already holds a key (a caller-chosen secret collided) or a forwarding address. */
  create(record: KeyRecord): boolean;
  update(settings: Partial<KeySettings>, expires: string | null | undefined): KeyView | null;
  /** Moves the key to a new secret's object, leaving a forwarding address for calls still in flight. */
  moveTo(token: string, keyName: string): Promise<KeyRecord | null>;
  adopt(record: KeyRecord, entries: Array<[string, unknown]>, ledger: LedgerEntry[]): Promise<boolean>;
  /** Whether this key may make a call at all right now (exists, not expired, not blocked), with its record. */
  authenticate(): { ok: true; record: KeyRecord } | { ok: false; refusal: Refusal };
}

export interface TeamService extends RecordOwner<TeamRecord>, Lender {
  create(record: TeamRecord): boolean;
  update(settings: Partial<TeamSettings>): TeamView | null;
}

export type EndUserView = View<EndUserRecord>;

export interface EndUserService extends RecordOwner<EndUserRecord> {
  /**
   * Admits a call for this end user: its registered limits, else `defaults` (an unregistered end user's object
   * is created from them on first use); "unknown" when it is neither registered nor given defaults.
   */
  admit(input: AdmitInput, id: string, defaults?: EndUserDefaults | null): AdmitAnswer | Promise<AdmitAnswer>;
  /** Registers the end user (/customer/new); one first seen through defaults keeps its spend and windows. */
  register(record: EndUserRecord): boolean;
  update(settings: Partial<EndUserSettings>): EndUserView | null;
}

export interface DeploymentService extends Owner, Lender {
  /** The deployment's live state for the dashboard: its view (null before first use) and cool-down left. */
  report(): { view: View<{ id: string }> | null; cooldownMs: number };
  /** The upstream answered 429 or 5xx: skip this deployment for a while. */
  coolDown(ms: number): void;
}
