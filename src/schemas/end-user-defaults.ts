import { z } from "zod";
import { parallelLimit, periodText, requestLimit, reservationPolicy, tokenLimit, usd } from "./common";

/**
 * An end user's id, as the OpenAI `user` field, Anthropic's `metadata.user_id` or the x-edgequota-end-user header
 * name it: bounded, and limited to characters ids and e-mail addresses use, so it is safe as an object name, a
 * log field and a query parameter.
 */
export const END_USER_ID = /^[A-Za-z0-9._@:+=|\/-]{1,128}$/;
export const endUserId = z.string().regex(END_USER_ID, "must be 1-128 letters, digits or . _ @ : + = | / -");

/** The limits an end user can carry, with the names LiteLLM uses for keys and customers. */
export const endUserLimitFields = {
  tpm_limit: tokenLimit.nullable(),
  rpm_limit: requestLimit.nullable(),
  max_parallel_requests: parallelLimit.nullable(),
  max_budget: usd.nullable(),
  soft_budget: usd.nullable(),
  budget_duration: periodText.nullable(),
  reservation_policy: reservationPolicy,
};
export const END_USER_LIMIT_DEFAULTS = {
  tpm_limit: null,
  rpm_limit: null,
  max_parallel_requests: null,
  max_budget: null,
  soft_budget: null,
  budget_duration: null,
  reservation_policy: "adaptive",
} satisfies { [K in keyof typeof endUserLimitFields]: z.infer<(typeof endUserLimitFields)[K]> };

/**
 * Limits applied to every end user seen through a key (the key's `end_user_defaults`, else END_USER_DEFAULTS)
 * that was never registered with /customer/new: LiteLLM's max_end_user_budget, generalised to every limit.
 */
export const endUserDefaultsSchema = z.strictObject(endUserLimitFields).partial();
export type EndUserDefaults = z.infer<typeof endUserDefaultsSchema>;

