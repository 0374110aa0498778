import { z } from "zod";
import { SCOPES } from "../http/limit-error";
import { deploymentSchema } from "../config/deployments";
import { ERRORS } from "../http/errors";
import { keyUsageSchema } from "../schemas/key";
import { completionUsageSchema, responsesUsageSchema } from "../schemas/openai";
import { endUserInfoSchema } from "../schemas/end-user";
import { spendLogSchema } from "../schemas/spend";
import { teamInfoSchema } from "../schemas/team";

/**
 * Schemas for answers the routes build without a zod schema of their own (see the gaps in README.md): written
 * here from the closest existing schema so the document covers them, and used by nothing but the document.
 */

/** The proxy endpoints answer what the upstream answered: open objects, of which the gateway reads `usage`. */
const passThrough = "The upstream's answer, passed through byte for byte; the gateway reads only `usage`.";
export const chatCompletionSchema = z.looseObject({ usage: completionUsageSchema.optional() }).meta({ description: passThrough });
export const completionSchema = z.looseObject({ usage: completionUsageSchema.optional() }).meta({ description: passThrough });
export const embeddingSchema = z.looseObject({ usage: completionUsageSchema.optional() }).meta({ description: passThrough });
export const responseSchema = z.looseObject({ usage: responsesUsageSchema.optional() }).meta({ description: passThrough });

/** Anthropic's usage object as src/upstream/anthropic-usage.ts reads it. */
export const anthropicUsageSchema = z.looseObject({
  input_tokens: z.number().int().min(0),
  output_tokens: z.number().int().min(0).optional(),
  cache_read_input_tokens: z.number().int().min(0).nullable().optional(),
  cache_creation_input_tokens: z.number().int().min(0).nullable().optional(),
  cache_creation: z.looseObject({ ephemeral_1h_input_tokens: z.number().int().min(0).optional() }).nullable().optional(),
});
export const messageSchema = z.looseObject({ usage: anthropicUsageSchema.optional() }).meta({ description: passThrough });
export const countTokensResponseSchema = z.looseObject({ input_tokens: z.number().int().min(0) }).meta({ description: "Anthropic's count, passed through." });

/** /v1/models: the upstream's list (as src/routes/proxy/models.ts parses it), narrowed to the key's models. */
export const modelListSchema = z.looseObject({ object: z.literal("list"), data: z.array(z.looseObject({ id: z.string() })) });

export const openApiDocumentSchema = z
  .looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) })
  .meta({ description: "An OpenAPI 3.1 document." });

export const healthSchema = z.object({ status: z.literal("ok"), upstream: z.enum(["embedded-mock", "configured"]) });

export const deleteKeysResponseSchema = z.object({ deleted_keys: z.array(z.string()).meta({ description: "The tokens (SHA-256) of the keys deleted." }) });
export const deleteTeamsResponseSchema = z.object({ deleted_teams: z.array(z.string()) });
export const teamListSchema = z.array(teamInfoSchema);
export const endUserListSchema = z.array(endUserInfoSchema);
export const blockEndUsersResponseSchema = z.object({ blocked_users: z.array(endUserInfoSchema) });
export const unblockEndUsersResponseSchema = z.object({ unblocked_users: z.array(endUserInfoSchema) });
export const deleteEndUsersResponseSchema = z.object({ deleted_customers: z.number().int(), message: z.string(), deleted_user_ids: z.array(z.string()) });
export const spendLogsSchema = z.array(spendLogSchema);

/** /deployment/list (src/routes/deployment/list.ts): each DEPLOYMENTS entry with its live window, queue and cool-down. */
/** A deployment's separate input or output window (itpm / otpm). */
const tokenWindowSchema = z.object({ tokens: z.number(), limit: z.number(), remaining: z.number(), reset_ms: z.number() });

export const deploymentListSchema = z.object({
  window_seconds: z.number(),
  deployments: z.array(
    z.object({
      id: z.string(),
      model_group: z.string(),
      model: z.string(),
      api: deploymentSchema.shape.api,
      used: z.boolean().meta({ description: "false: the deployment never served a call, its window is empty." }),
      ...keyUsageSchema.pick({ tokens: true, requests: true, tpm_limit: true, rpm_limit: true, tokens_reset_ms: true, requests_reset_ms: true }).shape,
      remaining_tokens: z.number().nullable(),
      remaining_requests: z.number().nullable(),
      itpm: z.number().nullable(),
      otpm: z.number().nullable(),
      input_window: tokenWindowSchema.nullable(),
      output_window: tokenWindowSchema.nullable(),
      in_flight: z.number(),
      reserved_tokens: z.number(),
      queue: keyUsageSchema.shape.queue,
      cooling_down: z.boolean(),
      cooldown_ms: z.number(),
      refusals: z.record(z.string(), z.object({ count: z.number(), last_at: z.iso.datetime() })),
    }),
  ),
});

/** /ui/session (src/routes/ui.ts): who the dashboard is signed in as. */
export const uiSessionSchema = z.union([
  z.object({ role: z.literal("master") }),
  z.object({ role: z.literal("key"), token: z.string(), key_alias: z.string().nullable(), key_name: z.string() }),
]);

/** The dashboard's static files. */
export const uiFileSchema = z.string().meta({ description: "The file: HTML, JavaScript or CSS." });

/** Which limit turned a call away, as src/http/limit-error.ts writes it into `error.limit` of a 429. */
export const limitDetailSchema = z.object({
  scope: z.enum(SCOPES),
  name: z.string().meta({ description: "The setting that tripped, e.g. tpm_limit or model_max_budget." }),
  model: z.string().nullable(),
  limit: z.number(),
  remaining: z.number(),
  requested: z.number(),
  resets_in_ms: z.number().nullable().meta({ description: "When this request would fit; null: it will not free up on its own." }),
  in_flight: z.object({ calls: z.number(), tokens: z.number() }).optional(),
});

const errorTypes = [...new Set(Object.values(ERRORS).map((entry) => entry.type))] as [string, ...string[]];
const codeDescription =
  "The gateway's own code (one of: " + Object.keys(ERRORS).join(", ") + "), or upstream_<status> / upstream_rate_limited for an upstream error passed through.";

/** OpenAI's envelope (src/http/errors.ts errorBody): every route but Anthropic's Messages API. */
export const openAiErrorSchema = z.object({
  error: z.object({
    message: z.string(),
    type: z.enum(errorTypes),
    param: z.string().nullable(),
    code: z.string().meta({ description: codeDescription }),
    limit: limitDetailSchema.optional(),
  }),
});

/** Anthropic's envelope (src/http/dialect.ts anthropicErrorBody): /v1/messages and /v1/messages/count_tokens. */
export const anthropicErrorSchema = z.object({
  type: z.literal("error"),
  error: z.object({
    type: z.string().meta({
      description: "Anthropic's error type for the status: invalid_request_error, authentication_error, permission_error, not_found_error, " +
        "request_too_large, rate_limit_error, api_error, timeout_error, overloaded_error.",
    }),
    message: z.string(),
    code: z.string().meta({ description: codeDescription }).optional(),
    limit: limitDetailSchema.optional(),
  }),
});
