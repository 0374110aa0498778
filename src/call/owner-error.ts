import { ApiError } from "../http/errors";
import { limitError, refusalError, type Scope } from "../http/limit-error";
import type { AdmitAnswer } from "../objects/protocol";

/** The client's error for an owner's answer that is not an admission. */
export function answerError(scope: Scope, answer: Exclude<AdmitAnswer, { kind: "admitted" }>, ownerName: string, model: string): ApiError {
  switch (answer.kind) {
    case "refused":
      return refusalError(answer.refusal);
    case "rejected":
      // Only the key's own numbers go into rate-limit headers: those are what the client's key can see.
      return limitError(scope, answer.rejection, scope === "key" ? answer.snapshot : null);
    case "cooling_down":
      return coolingDown(ownerName, Math.ceil(answer.waitMs));
    case "unknown":
      return noDeployment(model);
    case "left":
      return new ApiError("client_closed", "The client disconnected while the call waited for capacity.");
  }
}

export const noDeployment = (model: string) => new ApiError("no_deployment_available", `No deployment of model '${model}' is available.`);

/** Every deployment that could take the call is resting after upstream errors. */
function coolingDown(id: string, wait: number): ApiError {
  return new ApiError("deployment_cooling_down",
    `Every deployment of this model is cooling down after upstream errors; '${id}' is available again in ${wait} ms.`, {
      headers: { "retry-after-ms": String(wait), "retry-after": String(Math.ceil(wait / 1000)), "x-should-retry": "true" },
      details: { limit: { scope: "deployment", name: "cooldown", model: null, limit: null, remaining: 0, requested: 1, resets_in_ms: wait } },
    });
}
