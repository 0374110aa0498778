import { z } from "zod";
import { endUserId } from "./end-user-defaults";
import { keyRef } from "./key";

export const spendLogsQuerySchema = z.strictObject({
  api_key: keyRef.optional(),
  end_user_id: endUserId.optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
});

/** One ledger line as LiteLLM's /spend/logs names things; `spend` is USD and may be negative for a reset. */
export const spendLogSchema = z.object({
  request_id: z.string().nullable(),
  /** The key's token; null in an end user's log (its lines come from every key that served it). */
  api_key: z.string().nullable(),
  model: z.string().nullable(),
  spend: z.number(),
  total_tokens: z.number(),
  end_time: z.iso.datetime(),
  outcome: z.enum(["settled", "released", "expired", "budget_reset", "carried_forward"]),
  /** The upstream's token split (LiteLLM's names), null when the call was charged at its estimate. */
  prompt_tokens: z.number().nullable(),
  completion_tokens: z.number().nullable(),
  cache_read_input_tokens: z.number().nullable(),
  cache_creation_input_tokens: z.number().nullable(),
  /** Which source priced the call: the price database (with its version), "model_prices", or "upstream". */
  price_source: z.string().nullable(),
  /** The end user the call was made for (OpenAI's `user`, Anthropic's metadata.user_id, x-edgequota-end-user). */
  end_user: z.string().nullable(),
  /** How long the call waited for capacity before it was admitted (ms); null when it did not wait. */
  queue_ms: z.number().nullable(),
});
export type SpendLog = z.infer<typeof spendLogSchema>;
