import type { Bindings } from "../bindings";
import { ApiError } from "../http/errors";
import type { DirectoryObject } from "../objects/directory-object";
import type { DeploymentService, EndUserService, KeyService, TeamService } from "../objects/protocol";

/**
 * A Durable Object's RPC surface as plain async methods. Workers' own `Rpc.Stub` mapped type is exact but too
 * deep for TypeScript on our result types, and our results are plain data, so this projection loses nothing.
 */
export type Client<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => unknown ? K : never]: T[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

export type KeyClient = Client<KeyService>;
export type TeamClient = Client<TeamService>;
export type DeploymentClient = Client<DeploymentService>;
export type EndUserClient = Client<EndUserService>;
export type DirectoryClient = Client<
  Pick<
    DirectoryObject,
    | "put"
    | "remove"
    | "list"
    | "putTeam"
    | "removeTeams"
    | "listTeams"
    | "teamKeys"
    | "tokensByAlias"
    | "putEndUser"
    | "removeEndUsers"
    | "listEndUsers"
    | "putDeadAlert"
    | "listDeadAlerts"
  >
>;

/**
 * Wraps an object's stub so that failing to reach it (as opposed to an answer) becomes an OpenAI-shaped 503 on
 * every route: a gateway that guards money fails closed, and never answers a 500 for an infrastructure fault.
 */
function guarded<T extends object>(stub: unknown, what: string): T {
  return new Proxy(stub as T, {
    get(target, property) {
      const member = Reflect.get(target, property) as unknown;
      if (typeof member !== "function") return member;
      return async (...args: unknown[]) => {
        try {
          // Reflect.apply: an RPC stub would treat `.apply` as a remote method name.
          return await Reflect.apply(member as (...args: unknown[]) => Promise<unknown>, target, args);
        } catch (error) {
          if (error instanceof ApiError) throw error;
          console.error(`${what} object unreachable:`, error instanceof Error ? error.message : error);
          throw new ApiError("limiter_unavailable",
            `The ${what}'s limiter could not be reached, so the request was not completed. Retry shortly.`,
            { headers: { "retry-after": "1", "x-should-retry": "true" } });
        }
      };
    },
  });
}

const stubOf = (namespace: DurableObjectNamespace, name: string): unknown => namespace.get(namespace.idFromName(name));

/** Every key lives in the object named by the SHA-256 of its secret, so any front door finds the same one. */
export const keyObject = (env: Bindings, token: string): KeyClient => guarded(stubOf(env.KEYS, token), "key");

/** The key directory is a single object: it is only touched by the management API. */
export const directory = (env: Bindings): DirectoryClient => guarded(stubOf(env.DIRECTORY, "directory"), "directory");

/** A team's object is named by its team_id. */
export const teamObject = (env: Bindings, teamId: string): TeamClient => guarded(stubOf(env.TEAMS, teamId), "team");

/** A deployment's object is named by its id from DEPLOYMENTS. */
export const deploymentObject = (env: Bindings, id: string): DeploymentClient => guarded(stubOf(env.DEPLOYMENTS_LIMITS, id), "deployment");

/** An end user's object is named by its id, whichever key or front door sees it. */
export const endUserObject = (env: Bindings, id: string): EndUserClient => guarded(stubOf(env.END_USERS, id), "end user");
