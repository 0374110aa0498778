import { env } from "cloudflare:workers";
import type { DeploymentObject, EndUserObject, KeyObject, TeamObject } from "../worker";

/** Typed stubs of the test Worker's objects, for runInDurableObject (the bindings themselves are untyped). */
export const keyStub = (token: string) => env.KEYS.get(env.KEYS.idFromName(token)) as unknown as DurableObjectStub<KeyObject>;
export const teamStub = (teamId: string) => env.TEAMS.get(env.TEAMS.idFromName(teamId)) as unknown as DurableObjectStub<TeamObject>;
export const deploymentStub = (id: string) =>
  env.DEPLOYMENTS_LIMITS.get(env.DEPLOYMENTS_LIMITS.idFromName(id)) as unknown as DurableObjectStub<DeploymentObject>;
export const endUserStub = (id: string) => env.END_USERS.get(env.END_USERS.idFromName(id)) as unknown as DurableObjectStub<EndUserObject>;
