import type { Bindings } from "../bindings";
import type { Config } from "../config/config";
import type { Deployment } from "../config/deployments";
import type { Dialect } from "../http/dialect";
import { costOf, usdToNanos, type Snapshot, type TokenSplit, type Usage } from "../limiter";
import type { AdmitInput, Owner, Reserved } from "../objects/protocol";
import type { EndUserDefaults } from "../schemas/end-user-defaults";
import { deploymentObject, endUserObject, keyObject, teamObject } from "../stubs";
import { admitDeployment, reachOrSkip, type DeploymentHold } from "./deployments";
import { answerError } from "./owner-error";

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
  private ended = false;
  /** Key first, then team, then end user; the deployment's hold is kept apart so fail-over can swap it. */
  private readonly holds: Hold[] = [];
  private deploymentHold: DeploymentHold | null = null;
  private readonly tried = new Set<string>();
  /** Top-ups under way; settlement waits for them so it lands after them at each owner. */
  private readonly growing: Promise<unknown>[] = [];

  private constructor(
    private readonly env: Bindings,
    private readonly config: Config,
    readonly input: AdmitInput,
    /** The key's limiter as admission left it: the numbers the rate-limit headers show. */
    readonly keySnapshot: Snapshot,
    /** The API the client speaks: only deployments that speak it can serve the call. */
    readonly dialect: Dialect,
  ) {}

  get requestId(): string {
    return this.input.requestId;
  }

  /** The deployment serving the call, or null when the model has no DEPLOYMENTS group. */
  get deployment(): Deployment | null {
    return this.deploymentHold?.deployment ?? null;
  }

  /** Reserves the call at every owner, or throws the client's error with nothing left reserved. */
  static async admit(env: Bindings, config: Config, token: string, input: AdmitInput, dialect: Dialect): Promise<Call> {
    const key = keyObject(env, token);
    // Without the key's own object the key cannot even be authenticated: always fail closed here.
    const admitted = await key.admit(input, token);
    if (admitted.kind !== "admitted") throw answerError("key", admitted, token, input.model);
    const call = new Call(env, config, input, admitted.snapshot, dialect);
    call.holds.push({ owner: key, reserved: admitted.reserved });
    try {
      if (admitted.teamId !== null) await call.admitTeam(admitted.teamId);
      if (input.endUser) await call.admitEndUser(input.endUser, admitted.endUserDefaults ?? config.endUserDefaults);
      const group = config.deployments[input.model];
      if (group) call.deploymentHold = await admitDeployment(env, config, group, input, call.tried, dialect);
      return call;
    } catch (error) {
      await Promise.all(call.holds.map((hold) => hold.owner.withdraw(input.requestId)));
      throw error;
    }
  }

  private async admitTeam(teamId: string): Promise<void> {
    const team = teamObject(this.env, teamId);
    const answer = await reachOrSkip(this.config, () => team.admit(this.input, teamId));
    // null: the team could not be reached and the operator chose availability over its limits (fail-open).
    if (answer === null) return;
    if (answer.kind !== "admitted") throw answerError("team", answer, teamId, this.input.model);
    this.holds.push({ owner: team, reserved: answer.reserved });
  }

  /**
   * The end user's own limits (registered, or the defaults of its key or the gateway). "unknown": it has none
   * anywhere, so nothing is reserved for it.
   */
  private async admitEndUser(id: string, defaults: EndUserDefaults | null): Promise<void> {
    const endUser = endUserObject(this.env, id);
    const answer = await reachOrSkip(this.config, () => endUser.admit(this.input, id, defaults));
    if (answer === null || answer.kind === "unknown") return;
    if (answer.kind !== "admitted") throw answerError("end_user", answer, id, this.input.model);
    this.holds.push({ owner: endUser, reserved: answer.reserved });
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
    if (this.tried.size + 1 >= MAX_ATTEMPTS) return false;
    this.tried.add(failed.deployment.id);
    const group = this.config.deployments[this.input.model] ?? [];
    await failed.owner.finish(this.requestId, null);
    this.deploymentHold = null;
    try {
      this.deploymentHold = await admitDeployment(this.env, this.config, group, this.input, this.tried, this.dialect);
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
    if (this.ended) return;
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
    return this.end((hold) => hold.owner.finish(this.requestId, used, split));
  }

  /** The upstream may have done the work but we cannot know how much: each owner keeps what it reserved. */
  chargeEstimate(): Promise<unknown> {
    return this.end((hold) => hold.owner.finish(this.requestId, hold.reserved));
  }

  /** Nothing was consumed upstream: every owner gets its reservation back. */
  release(): Promise<unknown> {
    return this.end((hold) => hold.owner.finish(this.requestId, null));
  }

  private allHolds(): Hold[] {
    return this.deploymentHold ? [...this.holds, this.deploymentHold] : this.holds;
  }

  private async end(each: (hold: Hold) => Promise<boolean>): Promise<unknown> {
    if (this.ended) return;
    this.ended = true;
    await Promise.all(this.growing);
    return Promise.all(this.allHolds().map((hold) => withRetries(() => each(hold))));
  }
}

/** The price source named in the spend log when LiteLLM's x-litellm-response-cost priced the call. */
export const UPSTREAM_COST = "upstream";

/** Upstream attempts per call when deployments fail over (the first one included). */
export const MAX_ATTEMPTS = 3;
