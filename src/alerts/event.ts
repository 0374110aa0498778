import { z } from "zod";

/**
 * An alert: something an operator wants to hear about the moment it happens. Emitted by the owner object that
 * saw it, exactly once per event (its id is stable, derived from what happened, so a re-send carries the same id
 * and receivers de-duplicate by it), delivered at least once through the ALERTS queue.
 */
export const ALERT_TYPES = [
  "soft_budget_crossed",
  "budget_threshold",
  "budget_exceeded",
  "budget_reset",
  "key_blocked",
  "key_expired",
  "deployment_cooldown",
] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

export const OWNER_KINDS = ["key", "team", "end_user", "deployment"] as const;
export type OwnerKind = (typeof OWNER_KINDS)[number];

export const alertEventSchema = z.object({
  /** Stable: the same event always has the same id ("key:<token>:budget_threshold:<period>:0.8"). */
  id: z.string().min(1).max(512),
  type: z.enum(ALERT_TYPES),
  /** ISO time the owner saw it happen. */
  at: z.iso.datetime(),
  owner: z.object({
    kind: z.enum(OWNER_KINDS),
    /** Key token (SHA-256, never the secret), team_id, end-user id or deployment id. */
    id: z.string(),
    alias: z.string().nullable(),
    team_id: z.string().nullable(),
  }),
  /** The numbers behind it, in USD and ISO times; absent when they do not apply. */
  figures: z.object({
    spend: z.number().optional(),
    max_budget: z.number().nullable().optional(),
    soft_budget: z.number().nullable().optional(),
    /** budget_threshold: the fraction of max_budget crossed. */
    threshold: z.number().optional(),
    budget_reset_at: z.iso.datetime().nullable().optional(),
    /** deployment_cooldown: until when the deployment rests. */
    cooldown_until: z.iso.datetime().optional(),
  }),
});
export type AlertEvent = z.infer<typeof alertEventSchema>;
