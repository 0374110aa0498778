import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { credential } from "../../http/credentials";
import { ApiError, keyNotFound } from "../../http/errors";
import { validate } from "../../http/json-body";
import { isMaster } from "../../http/master-auth";
import { nanosToUsd } from "../../limiter";
import type { LedgerEntry } from "../../objects/spend-ledger";
import { endUserObject, keyObject } from "../../stubs";
import { spendLogsQuerySchema, type SpendLog } from "../../schemas/spend";
import { readableKey } from "../key/resolve";

/**
 * A key's spend ledger, newest first: the audit trail behind /key/info's spend (its lines sum to it).
 * The master key reads any key's log (?api_key=) or an end user's (?end_user_id=, across every key that served
 * it); a virtual key reads its own.
 */
export const spendLogs = new Hono<AppEnv>().get("/spend/logs", async (c) => {
  const query = validate(spendLogsQuerySchema, c.req.query());
  if (query.end_user_id !== undefined) {
    if (!(await isMaster(c, credential(c)))) throw new ApiError("admin_only", "Only the master key may read an end user's spend log.");
    const entries = await endUserObject(c.env, query.end_user_id).spendLog(query.limit);
    if (!entries) throw new ApiError("end_user_not_found", `No end user '${query.end_user_id}'.`);
    return c.json(entries.map((entry) => spendLog(entry, null)));
  }
  const token = await readableKey(c, query.api_key, "api_key");
  const entries = await keyObject(c.env, token).spendLog(query.limit);
  if (!entries) throw keyNotFound();
  return c.json(entries.map((entry) => spendLog(entry, token)));
});

function spendLog(entry: LedgerEntry, token: string | null): SpendLog {
  return {
    request_id: entry.request_id,
    api_key: token,
    model: entry.model,
    spend: nanosToUsd(entry.cost),
    total_tokens: entry.tokens,
    end_time: new Date(entry.at).toISOString(),
    outcome: entry.outcome as SpendLog["outcome"],
    prompt_tokens: entry.prompt_tokens ?? null,
    completion_tokens: entry.completion_tokens ?? null,
    cache_read_input_tokens: entry.cache_read_tokens ?? null,
    cache_creation_input_tokens: entry.cache_write_tokens ?? null,
    price_source: entry.price_source ?? null,
    end_user: entry.end_user ?? null,
    queue_ms: entry.queue_ms ?? null,
  };
}
