import { z } from "zod";
import { ALERT_TYPES, OWNER_KINDS, alertEventSchema } from "../alerts/event";

export const deadLettersQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** An alert the webhook kept refusing: delivery was given up after the queue's retries, and the event kept here. */
export const deadLetterSchema = z.object({
  id: z.string(),
  type: z.enum(ALERT_TYPES),
  owner: z.object({ kind: z.enum(OWNER_KINDS), id: z.string() }),
  /** How many times the event reached the dead-letter queue (its owner may have re-sent it before the ack landed). */
  count: z.number().int().min(1),
  /** When it first and last reached the dead-letter queue. */
  first_at: z.iso.datetime(),
  last_at: z.iso.datetime(),
  /** The event itself, as the webhook would have received it in the JSON format. */
  event: alertEventSchema,
});
export type DeadLetter = z.infer<typeof deadLetterSchema>;

/** Newest first; the total kept (the newest 10,000 at most) is in x-total-count. */
export const deadLettersSchema = z.array(deadLetterSchema);
