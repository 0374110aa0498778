import type { Bindings } from "../../bindings";
import { ApiError } from "../../http/errors";
import { endUserObject } from "../../stubs";

export const endUserNotFound = (ids: readonly string[], param: string) =>
  new ApiError("end_user_not_found", `No such end user: ${ids.join(", ")}.`, { param });

/**
 * The distinct ids of a batch request, once every one of them is known (registered or created from defaults):
 * batch routes change all or nothing, and name every unknown id in their 404.
 */
export async function existingEndUsers(env: Bindings, userIds: readonly string[]): Promise<string[]> {
  const ids = [...new Set(userIds)];
  const exists = await Promise.all(ids.map((id) => endUserObject(env, id).exists()));
  const missing = ids.filter((_, index) => !exists[index]);
  if (missing.length > 0) throw endUserNotFound(missing, "user_ids");
  return ids;
}
