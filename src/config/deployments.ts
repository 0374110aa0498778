import { z } from "zod";
import { RESERVATION_POLICIES } from "../limiter/limits";
import { maxWaitMs, priorityReservation } from "../schemas/common";

/**
 * Upstream deployments per model group, from the DEPLOYMENTS variable (JSON). A variable rather than an admin
 * API: deployments are infrastructure (URLs and the names of the secrets holding their keys) that belongs in
 * version-controlled wrangler.toml next to those secrets, every front door reads the same list with no extra
 * round trip, and a change is a reviewed deploy. The limits themselves are enforced in each deployment's own
 * Durable Object, so they hold in total across all front doors.
 */
export const deploymentSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, "must be 1-128 letters, digits or . _ : -"),
  /**
   * The API the deployment speaks. "openai" (default): an OpenAI-compatible server such as LiteLLM, called with
   * `Authorization: Bearer`, for every endpoint (LiteLLM serves Anthropic's /v1/messages too). "anthropic":
   * Anthropic's API, called with `x-api-key` and `anthropic-version`, for Messages calls only.
   */
  api: z.enum(["openai", "anthropic"]).default("openai"),
  /** Base URL; "" means the embedded mock upstream (tests, benchmarks). */
  base_url: z.union([z.literal(""), z.url({ protocol: /^https?$/ })]).transform((url) => url.replace(/\/+$/, "")),
  /** Name of the secret (env variable) that holds this deployment's API key. */
  api_key_secret: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name").optional(),
  /** Model name the upstream expects; defaults to the group's name. */
  model: z.string().min(1).max(256).optional(),
  tpm: z.number().int().min(0).max(1e12).optional(),
  rpm: z.number().int().min(0).max(1e9).optional(),
  /** How this deployment's windows reserve tokens: "adaptive" (default) or "strict". */
  reservation_policy: z.enum(RESERVATION_POLICIES).optional(),
  /**
   * Anthropic's separate input and output tokens per minute (per window). Output is reserved at max_tokens, as
   * Anthropic estimates it at the start; cache reads do not count toward input unless itpm_counts_cache_reads
   * (Anthropic counts them only for older models).
   */
  itpm: z.number().int().min(0).max(1e12).optional(),
  otpm: z.number().int().min(0).max(1e12).optional(),
  itpm_counts_cache_reads: z.boolean().optional(),
  /**
   * When the provider counts TPM. "usage" (default): settle to real usage when the call ends. "request_time":
   * as OpenAI and Azure OpenAI count, the prompt estimate plus max_tokens is charged at admission and kept.
   */
  tpm_counting: z.enum(["usage", "request_time"]).optional(),
  /** Share of this deployment each key priority class is guaranteed under contention; see priority_reservation on teams. */
  priority_reservation: priorityReservation.optional(),
  /** How long a call may wait for this deployment's capacity when it does not say; 0 (default) = answer now. */
  max_wait_ms: maxWaitMs.optional(),
}).refine((deployment) => deployment.tpm_counting !== "request_time" || deployment.reservation_policy !== "adaptive", {
  message: 'tpm_counting "request_time" reserves strictly (the provider counts max_tokens); reservation_policy cannot be "adaptive"',
  path: ["reservation_policy"],
});
export type Deployment = z.infer<typeof deploymentSchema>;

/** Whether a deployment can serve a call of this dialect: Anthropic's API serves only Anthropic's Messages. */
export function servesDialect(deployment: Deployment, dialect: "openai" | "anthropic"): boolean {
  return deployment.api === "openai" || dialect === "anthropic";
}

export const deploymentsSchema = z
  .record(z.string().min(1).max(256), z.array(deploymentSchema).min(1).max(64))
  .superRefine((groups, ctx) => {
    const seen = new Set<string>();
    for (const deployments of Object.values(groups)) {
      for (const deployment of deployments) {
        if (seen.has(deployment.id)) ctx.addIssue({ code: "custom", message: `deployment id '${deployment.id}' is used twice` });
        seen.add(deployment.id);
      }
    }
  });
export type Deployments = z.infer<typeof deploymentsSchema>;

export function findDeployment(groups: Deployments, id: string): Deployment | undefined {
  for (const deployments of Object.values(groups)) {
    const found = deployments.find((deployment) => deployment.id === id);
    if (found) return found;
  }
  return undefined;
}
