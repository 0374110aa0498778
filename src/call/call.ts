import type { Bindings } from "../bindings";
import type { Config } from "../config/config";
import type { Deployment } from "../config/deployments";
import type { Dialect } from "../http/dialect";
import { ApiError } from "../http/errors";
import { costOf, usdToNanos, type Snapshot, type TokenSplit, type Usage } from "../limiter";
import type { AdmitAnswer, AdmitInput, Owner, Reserved } from "../objects/protocol";
import type { EndUserDefaults } from "../schemas/end-user-defaults";
import { deploymentObject, endUserObject, keyObject, teamObject } from "../stubs";
import { Leasing } from "../leases/leasing";
import { admitDeployment, reachOrSkip, type DeploymentHold, type LocalDeployment } from "./deployments";
import { answerError } from "./owner-error";
import { Waiting } from "./waiting";

/** One owner holding a reservation for this call; `reserved` grows when a stream is topped up. */
export interface Hold {
  readonly owner: Pick<Owner, "finish" | "withdraw" | "extend">;
  reserved: Reserved;
}

/** Smallest top-up: a stream past its estimate asks again only after this many more tokens. */
const MIN_TOP_UP = 32;

/**
 * Settlement must not be lost to a passing failure to reach an object: retry a few times. If every try fails,
 * the reservation still expires after RESERVATION_TTL_MS and is charged at its estimate, never forgotten.
 */
async function withRetries(attempt: () => Promise<boolean>): Promise<boolean> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (tries >= 4) {
        console.error("settlement failed; the reservation will expire and be charged at its estimate:", error instanceof Error ? error.message : error);
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** tries));
    }
  }
}

/**
 * One call's whole life at its owners: admission at the key, its team, its end user and a deployment (in that order,
 * withdrawing what was reserved when a later owner refuses), moving to another deployment when one fails, and
 * ending every reservation exactly once.
 */
export class Call {
  /** Key first, then team, then end user; the deployment's hold is kept apart so fail-over can swap it. */
  private readonly holds: Hold[] = [];
  private deploymentHold: DeploymentHold | null = null;
  private readonly tried = new Set<string>();
  /** Top-ups under way; settlement waits for them so it lands after them at each owner. */
  private readonly growing: Promise<unknown>[] = [];
  /** How the call ended; null until it does (every reservation is ended exactly once). */
  private ending: CallEnding | null = null;
  private announceEnding!: (ending: CallEnding) => void;
  /** Resolves once the call has ended at its owners, with how; never when it is left to expire. */
  readonly whenEnded: Promise<CallEnding> = new Promise((resolve) => (this.announceEnding = resolve));

  private constructor(
    private readonly env: Bindings,
    private readonly config: Config,
    readonly input: AdmitInput,
    /** The key's limiter as admission left it: the numbers the rate-limit headers show. */
    readonly keySnapshot: Snapshot,
    /** The API the client speaks: only deployments that speak it can serve the call. */
    readonly dialect: Dialect,
    private readonly waiting: Waiting,
    /** The key's team, null when it has none. */
    readonly teamId: string | null,
    /** The isolate's leases, when the call may use them. */
    private readonly leasing: Leasing | null,
  ) {}

  /** How long the call waited in owners' queues before it was admitted everywhere. */
  get queuedMs(): number {
    return this.waiting.queuedMs;
  }

  get requestId(): string {
    return this.input.requestId;
  }

  /** How the call ended at its owners; null while it has not. */
  get endedAs(): CallEnding | null {
    return this.ending;
  }

  /** The deployment serving the call, or null when the model has no DEPLOYMENTS group. */
  get deployment(): Deployment | null {
    return this.deploymentHold?.deployment ?? null;
  }

  /**
   * Reserves the call at every owner, waiting in their queues as long as it may (`maxWaitMs` from the client, else
   * each owner's max_wait_ms), or throws the client's error with nothing left reserved. A client that goes away
   * while waiting leaves the queue it is in, and whatever was reserved for it is withdrawn.
   */
  static async admit(env: Bindings, config: Config, token: string, request: AdmitRequest): Promise<Call> {
    const { dialect, maxWaitMs, signal } = request;
    const waiting = new Waiting(maxWaitMs, signal);
    const leasing = request.waitUntil ? new Leasing(env, config, request.waitUntil) : null;
    const key = keyObject(env, token);
    const asked = { ...request.input, share: token };
    // A lease of the key's admits the call here; else the key's own object, without which the key cannot even be
    // authenticated: always fail closed there.
    const local = leasing ? await leasing.admitSoon("key", token, asked) : null;
    const admitted: AdmitAnswer = local
      ? { kind: "admitted", reserved: local.reserved, snapshot: local.snapshot, queuedMs: 0, ...local.extras }
      : await waiting.ask(key, asked.requestId, async () => key.admit(waiting.inputFor(asked), token));
    if (admitted.kind !== "admitted") throw answerError("key", admitted, token, asked.model).withHeaders(queueHeader(waiting));
    leasing?.admitted("key", token, asked.model, admitted.reserved);
    // Owners after the key see the key's priority class.
    const input = { ...asked, priority: admitted.priority ?? null };
    const call = new Call(env, config, input, admitted.snapshot, dialect, waiting, admitted.teamId, leasing);
    call.holds.push({ owner: local?.owner ?? key, reserved: admitted.reserved });
    try {
      waiting.checkClient();
      if (admitted.teamId !== null) await call.admitTeam(admitted.teamId);
      if (input.endUser) await call.admitEndUser(input.endUser, admitted.endUserDefaults ?? config.endUserDefaults);
      const group = config.deployments[input.model];
      if (group) {
        call.deploymentHold = await admitDeployment(env, config, input.model, group, call.tried, dialect, (owner, id, noWait) =>
          waiting.ask(owner, input.requestId, async () => owner.admit(waiting.inputFor(input, noWait), id)),
        call.localDeployment(),
        );
        call.deploymentAdmitted();
        waiting.checkClient();
      }
      return call;
    } catch (error) {
      const reason = error instanceof ApiError ? refusalReason(error) : undefined;
      await Promise.all(call.allHolds().map((hold) => hold.owner.withdraw(input.requestId, reason)));
      throw error instanceof ApiError ? error.withHeaders(queueHeader(waiting)) : error;
    }
  }

  private async admitTeam(teamId: string): Promise<void> {
    const local = this.leasing ? await this.leasing.admitSoon("team", teamId, this.input) : null;
    if (local) {
      this.holds.push({ owner: local.owner, reserved: local.reserved });
      this.leasing?.admitted("team", teamId, this.input.model, local.reserved);
      return;
    }
    const team = teamObject(this.env, teamId);
    const answer = await reachOrSkip(this.config, () => this.waiting.ask(team, this.requestId, async () => team.admit(this.waiting.inputFor(this.input), teamId)));
    // null: the team could not be reached and the operator chose availability over its limits (fail-open).
    if (answer === null) return;
    if (answer.kind !== "admitted") throw answerError("team", answer, teamId, this.input.model);
    this.holds.push({ owner: team, reserved: answer.reserved });
    this.leasing?.admitted("team", teamId, this.input.model, answer.reserved);
    this.waiting.checkClient();
  }

  /**
   * The end user's own limits (registered, or the defaults of its key or the gateway). "unknown": it has none
   * anywhere, so nothing is reserved for it.
   */
  private async admitEndUser(id: string, defaults: EndUserDefaults | null): Promise<void> {
    const endUser = endUserObject(this.env, id);
    const answer = await reachOrSkip(this.config, () =>
      this.waiting.ask(endUser, this.requestId, async () => endUser.admit(this.waiting.inputFor(this.input), id, defaults)),
    );
    if (answer === null || answer.kind === "unknown") return;
    if (answer.kind !== "admitted") throw answerError("end_user", answer, id, this.input.model);
    this.holds.push({ owner: endUser, reserved: answer.reserved });
    this.waiting.checkClient();
  }

  /** Admission under a deployment's lease, for admitDeployment to try before asking the deployment's object. */
  private localDeployment(): LocalDeployment | undefined {
    const leasing = this.leasing;
    if (!leasing) return undefined;
    return (deployment) => {
      const local = leasing.admit("deployment", deployment.id, this.input);
      return local ? { deployment, owner: local.owner, reserved: local.reserved } : null;
    };
  }

  private deploymentAdmitted(): void {
    const hold = this.deploymentHold;
    if (hold) this.leasing?.admitted("deployment", hold.deployment.id, this.input.model, hold.reserved);
  }

  /**
   * The deployment failed (429, 5xx or unreachable): it rests, its reservation is released, and the call moves
   * to another deployment of the group with capacity. false when there is none (the caller then answers with
   * this attempt's own failure).
   */
  async failOver(cooldownMs: number): Promise<boolean> {
    const failed = this.deploymentHold;
    if (!failed) return false;
    // Every deployment that failed rests, the last one tried included, whether or not the call moves on.
    await deploymentObject(this.env, failed.deployment.id).coolDown(cooldownMs);
    this.leasing?.retire("deployment", failed.deployment.id, this.input.model);
    if (this.tried.size + 1 >= MAX_ATTEMPTS) return false;
    this.tried.add(failed.deployment.id);
    const group = this.config.deployments[this.input.model] ?? [];
    await failed.owner.finish(this.requestId, null);
    this.deploymentHold = null;
    try {
      // A call failing over does not wait again: it has an answer to give.
      this.deploymentHold = await admitDeployment(this.env, this.config, this.input.model, group, this.tried, this.dialect, async (owner, id) =>
        owner.admit({ ...this.input, maxWaitMs: 0 }, id),
      this.localDeployment(),
      );
      this.deploymentAdmitted();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * What real usage cost and where the price came from: LiteLLM's own per-call cost when it sent one, else the
   * price the call was admitted with (cache reads and writes at their own rates), else nothing known.
   */
  costOf(split: TokenSplit, upstreamCost: string | null): Usage {
    const tokens = split.prompt + split.completion;
    const reported = upstreamCost === null ? Number.NaN : Number(upstreamCost);
    if (Number.isFinite(reported) && reported >= 0) return { tokens, cost: usdToNanos(reported), priceSource: UPSTREAM_COST };
    if (!this.input.price) return { tokens, cost: 0, priceSource: "unknown" };
    return { tokens, cost: costOf(this.input.price, split), ...(this.input.priceSource ? { priceSource: this.input.priceSource } : {}) };
  }

  /**
   * A stream has generated `streamed` output tokens so far. Every owner whose reservation it has outgrown gets
   * a top-up now (a quarter of its output reservation at least), so windows track what is being generated; the
   * stream itself is never cut. The promises are kept for settlement to wait on.
   */
  progress(streamed: number): void {
    if (this.ending) return;
    for (const hold of this.allHolds()) {
      const { tokens, promptTokens } = hold.reserved;
      const over = promptTokens + streamed - tokens;
      if (over <= 0) continue;
      const step = Math.max(over, Math.ceil((tokens - promptTokens) / 4), MIN_TOP_UP);
      hold.reserved = { ...hold.reserved, tokens: tokens + step };
      this.growing.push(hold.owner.extend(this.requestId, step).catch(() => false));
    }
  }

  settle(split: TokenSplit, used: Usage): Promise<unknown> {
    const ending: CallEnding = { outcome: "settled", split, cost: used.cost, priceSource: used.priceSource ?? null };
    return this.end(ending, (hold) => hold.owner.finish(this.requestId, this.withQueue(used), split));
  }

  /** The upstream may have done the work but we cannot know how much: each owner keeps what it reserved. */
  chargeEstimate(): Promise<unknown> {
    // The key's reservation is what the key is charged (holds[0] is always the key's).
    const key = this.holds[0]!.reserved;
    const ending: CallEnding = {
      outcome: "charged_estimate",
      split: { prompt: key.promptTokens, completion: Math.max(0, key.tokens - key.promptTokens) },
      cost: key.cost,
      priceSource: this.input.priceSource ?? null,
    };
    return this.end(ending, (hold) => hold.owner.finish(this.requestId, this.withQueue({ tokens: hold.reserved.tokens, cost: hold.reserved.cost })));
  }

  /** The spend log records how long a call waited for capacity. */
  private withQueue(used: Usage): Usage {
    return this.waiting.queuedMs > 0 ? { ...used, queueMs: this.waiting.queuedMs } : used;
  }

  /** Nothing was consumed upstream: every owner gets its reservation back. */
  release(): Promise<unknown> {
    return this.end({ outcome: "released", split: { prompt: 0, completion: 0 }, cost: 0, priceSource: null }, (hold) => hold.owner.finish(this.requestId, null));
  }

  /** Every hold, the deployment's included: what settlement ends and a refusal withdraws. */
  private allHolds(): Hold[] {
    return this.deploymentHold ? [...this.holds, this.deploymentHold] : this.holds;
  }

  private async end(ending: CallEnding, each: (hold: Hold) => Promise<boolean>): Promise<unknown> {
    if (this.ending) return;
    this.ending = ending;
    this.announceEnding(ending);
    await Promise.all(this.growing);
    return Promise.all(this.allHolds().map((hold) => withRetries(() => each(hold))));
  }
}

/**
 * How a call ended at its owners, for its analytics record: what the key was charged (the upstream's split
 * when settled, its own reservation when charged at the estimate, nothing when released) and at what price.
 */
export interface CallEnding {
  readonly outcome: "settled" | "charged_estimate" | "released";
  readonly split: TokenSplit;
  /** Nano-dollars. */
  readonly cost: number;
  readonly priceSource: string | null;
}

/** What the front door knows of a call before its owners admit it. */
export interface AdmitRequest {
  readonly input: AdmitInput;
  readonly dialect: Dialect;
  /** The client's wait bound (x-edgequota-max-wait-ms), or null for each owner's own max_wait_ms. */
  readonly maxWaitMs: number | null;
  /** Fires when the client goes away. */
  readonly signal: AbortSignal | null;
  /** The request's waitUntil: lease round trips run there. Without it the call uses no leases. */
  readonly waitUntil?: ((promise: Promise<unknown>) => void) | null;
}

/** Why a later owner refused the call, as the earlier owners count it: "team:rpm_limit", "end_user_blocked"... */
export function refusalReason(error: ApiError): string {
  const limit = (error.options.details as { limit?: { scope?: unknown; name?: unknown } } | undefined)?.limit;
  return limit && typeof limit.scope === "string" && typeof limit.name === "string" ? `${limit.scope}:${limit.name}` : error.code;
}

/** x-edgequota-queue-ms: how long the call waited for capacity, on every answer of a call that waited. */
function queueHeader(waiting: Waiting): Record<string, string> {
  return waiting.queuedMs > 0 ? { "x-edgequota-queue-ms": String(Math.round(waiting.queuedMs)) } : {};
}

/** The price source named in the spend log when LiteLLM's x-litellm-response-cost priced the call. */
export const UPSTREAM_COST = "upstream";

/** Upstream attempts per call when deployments fail over (the first one included). */
export const MAX_ATTEMPTS = 3;
