import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { keyNotFound } from "../../http/errors";
import { validate } from "../../http/json-body";
import { nanosToUsd } from "../../limiter";
import { keyObject } from "../../stubs";
import { spendLogsQuerySchema, type SpendLog } from "../../schemas/spend";
import { readableKey } from "../key/resolve";

/**
 * A key's spend ledger, newest first: the audit trail behind /key/info's spend (its lines sum to it).
 * The master key reads any key's log (?api_key=); a virtual key reads its own.
 */
export const spendLogs = new Hono<AppEnv>().get("/spend/logs", async (c) => {
  const query = validate(spendLogsQuerySchema, c.req.query());
  const token = await readableKey(c, query.api_key, "api_key");
  const entries = await keyObject(c.env, token).spendLog(query.limit);
  if (!entries) throw keyNotFound();
  return c.json(
    entries.map((entry): SpendLog => ({
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
    })),
  );
});
