import { z } from "zod";
import { label, metadata, reservationPolicy } from "./common";
import { END_USER_LIMIT_DEFAULTS, endUserId, endUserLimitFields } from "./end-user-defaults";
import { keyUsageSchema } from "./key";

export { END_USER_ID, endUserDefaultsSchema, endUserId, type EndUserDefaults } from "./end-user-defaults";

/** A customer's settings (LiteLLM's /customer/new fields we enforce). No zod defaults: updates tell "not sent" apart. */
export const endUserSettingsSchema = z.strictObject({
  alias: label.nullable(),
  blocked: z.boolean(),
  metadata,
  ...endUserLimitFields,
});
export type EndUserSettings = z.infer<typeof endUserSettingsSchema>;

export const END_USER_DEFAULTS: EndUserSettings = { alias: null, blocked: false, metadata: {}, ...END_USER_LIMIT_DEFAULTS };

export const endUserRecordSchema = endUserSettingsSchema.extend({
  user_id: z.string(),
  /** false: created on first use from defaults, never registered; its limits follow the defaults it is seen with. */
  registered: z.boolean(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
export type EndUserRecord = z.infer<typeof endUserRecordSchema>;

export const newEndUserRequestSchema = endUserSettingsSchema.partial().extend({ user_id: endUserId });
export const updateEndUserRequestSchema = endUserSettingsSchema.partial().extend({ user_id: endUserId });
export const endUserIdsRequestSchema = z.strictObject({ user_ids: z.array(endUserId).min(1).max(100) });
export const endUserInfoQuerySchema = z.strictObject({ end_user_id: endUserId });
export const listEndUsersQuerySchema = z.strictObject({
  page: z.coerce.number().int().min(1).max(1_000_000).default(1),
  size: z.coerce.number().int().min(1).max(100).default(25),
});

/** /customer/info: LiteLLM's shape (user_id, alias, blocked, spend, litellm_budget_table) plus the live usage. */
export const endUserInfoSchema = z.object({
  user_id: z.string(),
  alias: z.string().nullable(),
  blocked: z.boolean(),
  metadata,
  registered: z.boolean(),
  spend: z.number(),
  budget_reset_at: z.iso.datetime().nullable(),
  soft_budget_crossed_at: z.iso.datetime().nullable(),
  litellm_budget_table: z.object({
    max_budget: z.number().nullable(),
    soft_budget: z.number().nullable(),
    budget_duration: z.string().nullable(),
    tpm_limit: z.number().nullable(),
    rpm_limit: z.number().nullable(),
    max_parallel_requests: z.number().nullable(),
  }),
  reservation_policy: reservationPolicy,
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  usage: keyUsageSchema,
});
export type EndUserInfo = z.infer<typeof endUserInfoSchema>;
