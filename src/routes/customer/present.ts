import type { EndUserView } from "../../objects/protocol";
import type { EndUserInfo } from "../../schemas/end-user";
import { liveInfo } from "../key/present";

/**
 * /customer/info: LiteLLM's customer shape (the limits under litellm_budget_table) plus the live counters of the
 * object that enforces them, in the same `usage` block /key/info shows.
 */
export function endUserInfo(view: EndUserView): EndUserInfo {
  const { record } = view;
  const live = liveInfo(view);
  return {
    user_id: record.user_id,
    alias: record.alias,
    blocked: record.blocked,
    metadata: record.metadata,
    registered: record.registered,
    spend: live.spend,
    budget_reset_at: live.budget_reset_at,
    soft_budget_crossed_at: live.soft_budget_crossed_at,
    litellm_budget_table: {
      max_budget: record.max_budget,
      soft_budget: record.soft_budget,
      budget_duration: record.budget_duration,
      tpm_limit: record.tpm_limit,
      rpm_limit: record.rpm_limit,
      max_parallel_requests: record.max_parallel_requests,
    },
    reservation_policy: record.reservation_policy,
    created_at: record.created_at,
    updated_at: record.updated_at,
    usage: live.usage,
  };
}
