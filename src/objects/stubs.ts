import type { Bindings } from "../config/bindings";
import type { DirectoryObject } from "./directory-object";
import type { DeploymentObject } from "./deployment-object";
import type { KeyObject } from "./key-object";
import type { TeamObject } from "./team-object";

/**
 * A Durable Object's RPC surface as plain async methods. Workers' own `Rpc.Stub` mapped type is exact but too
 * deep for TypeScript on our result types, and our results are plain data, so this projection loses nothing.
 */
export type Client<T, M extends keyof T> = {
  [K in M]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

type KeyMethods = "create" | "exists" | "view" | "update" | "destroy" | "moveTo" | "adopt" | "authenticate" | "admit" | "finish" | "withdraw" | "spendLog" | "stats";
export type KeyClient = Client<KeyObject, KeyMethods>;
export type DirectoryClient = Client<DirectoryObject, "put" | "remove" | "list" | "putTeam" | "removeTeams" | "listTeams" | "teamKeys">;

/** Every key lives in the object named by the SHA-256 of its secret, so any front door finds the same one. */
export const keyObject = (env: Bindings, token: string): KeyClient =>
  env.KEYS.get(env.KEYS.idFromName(token)) as unknown as KeyClient;

/** The key directory is a single object: it is only touched by the management API. */
export const directory = (env: Bindings): DirectoryClient =>
  env.DIRECTORY.get(env.DIRECTORY.idFromName("directory")) as unknown as DirectoryClient;

type TeamMethods = "create" | "exists" | "view" | "update" | "destroy" | "admit" | "finish" | "withdraw" | "spendLog";
export type TeamClient = Client<TeamObject, TeamMethods>;
export type DeploymentClient = Client<DeploymentObject, "admit" | "coolDown" | "finish" | "withdraw" | "view">;

/** A team's object is named by its team_id. */
export const teamObject = (env: Bindings, teamId: string): TeamClient => env.TEAMS.get(env.TEAMS.idFromName(teamId)) as unknown as TeamClient;

/** A deployment's object is named by its id from DEPLOYMENTS. */
export const deploymentObject = (env: Bindings, id: string): DeploymentClient =>
  env.DEPLOYMENTS_LIMITS.get(env.DEPLOYMENTS_LIMITS.idFromName(id)) as unknown as DeploymentClient;
