import type { Bindings } from "../bindings";
import type { LeaseAnswer, LeaseRequest, Owner } from "../objects/protocol";
import { deploymentObject, keyObject, teamObject } from "../stubs";

/** The owners that lend leases. */
export type LenderScope = "key" | "team" | "deployment";

/** An owner's lease and extend methods, reached from the current request (a stub must not outlive its request). */
export function lenderOf(env: Bindings, scope: LenderScope, name: string): { lease(request: LeaseRequest, name: string): Promise<LeaseAnswer> } & Pick<Owner, "extend"> {
  if (scope === "key") return keyObject(env, name);
  if (scope === "team") return teamObject(env, name);
  return deploymentObject(env, name);
}
