import { z } from "zod";
import { endUserDefaultsSchema } from "./end-user-defaults";
import { label, modelName, OWNER_LIMIT_DEFAULTS, ownerLimitFields, periodText, requestLimit, reservationPolicy, tokenLimit, usd } from "./common";

export const modelBudgetSchema = z.strictObject({
  budget_limit: usd,
  time_period: periodText.nullable().default(null),
});

/**
 * The settings of a virtual key, with LiteLLM's field names so existing scripts and dashboards work.
 * `default_output_tokens` is ours: the output reserved for requests that set no max_tokens.
 * No field carries a zod default: /key/update must be able to tell "not sent" from "set to the default".
 */
export const keySettingsSchema = z
  .strictObject({
    key_alias: label.nullable(),
    team_id: label.nullable(),
    user_id: label.nullable(),
    model_tpm_limit: z.record(modelName, tokenLimit),
    model_rpm_limit: z.record(modelName, requestLimit),
    model_max_budget: z.record(modelName, modelBudgetSchema),
    default_output_tokens: tokenLimit.nullable(),
    /** Limits for every end user seen through this key that was never registered (LiteLLM's max_end_user_budget). */
    end_user_defaults: endUserDefaultsSchema.nullable(),
    /** The key's priority class at its team and deployments (their priority_reservation names the classes). */
    priority: label.nullable(),
  })
  .extend(ownerLimitFields);
export type KeySettings = z.infer<typeof keySettingsSchema>;

/** What /key/generate fills in for fields it was not given: no limits, every model. */
export const KEY_DEFAULTS: KeySettings = {
  key_alias: null,
  team_id: null,
  user_id: null,
  ...OWNER_LIMIT_DEFAULTS,
  model_tpm_limit: {},
  model_rpm_limit: {},
  model_max_budget: {},
  default_output_tokens: null,
  end_user_defaults: null,
  priority: null,
};

/** A key's identity for the management API: its secret ("sk-...") or the SHA-256 hex LiteLLM calls `token`. */
export const keyRef = z.string().min(1).max(512);

const editable = keySettingsSchema.partial().extend({ duration: periodText.nullable().optional() });

export const generateKeyRequestSchema = editable.extend({
  /** A caller-chosen secret, as LiteLLM allows; otherwise one is generated. */
  key: z.string().regex(/^sk-[A-Za-z0-9_-]{20,200}$/, "must be sk- followed by 20-200 URL-safe characters").optional(),
});
export const updateKeyRequestSchema = editable.extend({ key: keyRef });
/** LiteLLM deletes by secret or token (`keys`) or by alias (`key_aliases`); at least one must be given. */
export const deleteKeyRequestSchema = z
  .strictObject({ keys: z.array(keyRef).max(100).optional(), key_aliases: z.array(label).max(100).optional() })
  .refine((body) => (body.keys?.length ?? 0) + (body.key_aliases?.length ?? 0) > 0, {
    message: "give `keys` or `key_aliases` with at least one entry",
    path: ["keys"],
  });
export const keyActionRequestSchema = z.strictObject({ key: keyRef });

export const listKeysQuerySchema = z.strictObject({
  page: z.coerce.number().int().min(1).max(1_000_000).default(1),
  size: z.coerce.number().int().min(1).max(100).default(10),
  team_id: label.optional(),
  key_alias: label.optional(),
  user_id: label.optional(),
  return_full_object: z.enum(["true", "false"]).default("false").transform((value) => value === "true"),
});
export const keyInfoQuerySchema = z.strictObject({ key: keyRef.optional() });

export type GenerateKeyRequest = z.infer<typeof generateKeyRequestSchema>;
export type UpdateKeyRequest = z.infer<typeof updateKeyRequestSchema>;
export type ListKeysQuery = z.infer<typeof listKeysQuerySchema>;

/** What a key's Durable Object stores about it (the secret itself never). */
export const keyRecordSchema = keySettingsSchema.extend({
  token: z.string(),
  key_name: z.string(),
  expires: z.iso.datetime().nullable(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
export type KeyRecord = z.infer<typeof keyRecordSchema>;

const windowUsageSchema = z.object({
  tokens: z.number(),
  requests: z.number(),
  tpm_limit: z.number().nullable(),
  rpm_limit: z.number().nullable(),
  tokens_reset_ms: z.number(),
  requests_reset_ms: z.number(),
});

/** Live counters, read from the very state admission decides on. */
export const keyUsageSchema = windowUsageSchema.extend({
  window_seconds: z.number(),
  in_flight: z.number(),
  max_parallel_requests: z.number().nullable(),
  reserved_tokens: z.number(),
  reserved_spend: z.number(),
  reservation_policy: reservationPolicy,
  /** Calls waiting for capacity at this owner now, and how long the oldest has waited (ms). */
  queue: z.object({ length: z.number(), oldest_wait_ms: z.number().nullable() }),
  /**
   * Capacity lent to front doors as leases now: live leases and what they hold, already counted in tokens,
   * requests and reserved_spend above and against max_parallel_requests. Front doors admit calls against it locally.
   */
  leased: z.object({ leases: z.number(), tokens: z.number(), requests: z.number(), parallel_slots: z.number(), spend: z.number() }),
  /** Calls refused, by reason ("key:tpm_limit", "team:rpm_limit", "key_blocked"...), with the last time. */
  refusals: z.record(z.string(), z.object({ count: z.number(), last_at: z.iso.datetime() })),
  /** What the owner learned of its calls (adaptive reservations size from it), per model, most recent first. */
  learned: z.object({
    models: z.array(
      z.object({
        model: z.string(),
        output_samples: z.number(),
        output_p50: z.number().nullable(),
        output_p95: z.number().nullable(),
        /** Output tokens an adaptive reservation holds for this model now (the learned mean), null before enough samples. */
        output_estimate: z.number().nullable(),
        prompt_samples: z.number(),
        /** Real prompt tokens per token of the byte bound (models without a known tokenizer), p99. */
        prompt_ratio_p99: z.number().nullable(),
        prompt_bound_broken_at: z.iso.datetime().nullable(),
      }),
    ),
    call_duration_ms: z.object({ samples: z.number(), p50: z.number().nullable(), p95: z.number().nullable() }),
  }),
  models: z.record(
    z.string(),
    z.object({
      window: windowUsageSchema.nullable(),
      spend: z.number().nullable(),
      reserved_spend: z.number().nullable(),
      budget_limit: z.number().nullable(),
      budget_reset_at: z.iso.datetime().nullable(),
    }),
  ),
});

export const keyInfoSchema = keyRecordSchema.extend({
  spend: z.number(),
  budget_reset_at: z.iso.datetime().nullable(),
  soft_budget_crossed_at: z.iso.datetime().nullable(),
  usage: keyUsageSchema,
});
export type KeyInfo = z.infer<typeof keyInfoSchema>;
export type KeyUsage = z.infer<typeof keyUsageSchema>;

export const keyInfoResponseSchema = z.object({ key: z.string(), info: keyInfoSchema });
export const generateKeyResponseSchema = keyInfoSchema.omit({ usage: true }).extend({ key: z.string() });
export const listKeysResponseSchema = z.object({
  keys: z.array(z.union([z.string(), keyInfoSchema])),
  total_count: z.number(),
  current_page: z.number(),
  total_pages: z.number(),
});
export type KeyInfoResponse = z.infer<typeof keyInfoResponseSchema>;
export type GenerateKeyResponse = z.infer<typeof generateKeyResponseSchema>;
