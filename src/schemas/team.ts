import { z } from "zod";
import { label, OWNER_LIMIT_DEFAULTS, ownerLimitFields, priorityReservation } from "./common";
import { keyInfoSchema } from "./key";

/** A team's settings, with LiteLLM's field names. No defaults here, so updates can tell "not sent" apart. */
export const teamSettingsSchema = z.strictObject({
  team_alias: label.nullable(),
  ...ownerLimitFields,
  priority_reservation: priorityReservation.nullable(),
});
export type TeamSettings = z.infer<typeof teamSettingsSchema>;

export const TEAM_DEFAULTS: TeamSettings = { team_alias: null, ...OWNER_LIMIT_DEFAULTS, priority_reservation: null };

export const newTeamRequestSchema = teamSettingsSchema.partial().extend({ team_id: label.optional() });
export const updateTeamRequestSchema = teamSettingsSchema.partial().extend({ team_id: label });
export const deleteTeamRequestSchema = z.strictObject({ team_ids: z.array(label).min(1).max(100) });
export const teamInfoQuerySchema = z.strictObject({ team_id: label });

export const teamRecordSchema = teamSettingsSchema.extend({
  team_id: z.string(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
export type TeamRecord = z.infer<typeof teamRecordSchema>;

export const teamInfoSchema = teamRecordSchema.extend({
  spend: z.number(),
  budget_reset_at: z.iso.datetime().nullable(),
  soft_budget_crossed_at: z.iso.datetime().nullable(),
  usage: keyInfoSchema.shape.usage,
});
export type TeamInfo = z.infer<typeof teamInfoSchema>;

export const teamInfoResponseSchema = z.object({
  team_id: z.string(),
  team_info: teamInfoSchema,
  keys: z.array(keyInfoSchema),
});
export type TeamInfoResponse = z.infer<typeof teamInfoResponseSchema>;
