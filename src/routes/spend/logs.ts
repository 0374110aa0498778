import { Hono } from "hono";
import { secretsEqual, sha256Hex } from "../../crypto/secret";
import type { AppEnv } from "../../http/app-env";
import { credential } from "../../http/credentials";
import { badRequest, forbidden, notFound, unauthorized } from "../../http/errors";
import { validate } from "../../http/json-body";
import { refusalError } from "../../http/limit-error";
import { isMaster } from "../../http/master-auth";
import { nanosToUsd } from "../../limiter";
import { keyObject } from "../../objects/stubs";
import { spendLogsQuerySchema, type SpendLog } from "../../schemas/spend";
import { tokenOf } from "../key/resolve";

/**
 * A key's spend ledger, newest first: the audit trail behind /key/info's spend (its lines sum to it).
 * The master key reads any key's log (?api_key=); a virtual key reads its own.
 */
export const spendLogs = new Hono<AppEnv>().get("/spend/logs", async (c) => {
  const given = credential(c);
  const query = validate(spendLogsQuerySchema, c.req.query());
  let token: string;
  if (await isMaster(c, given)) {
    if (query.api_key === undefined) throw badRequest("missing_key", "Pass ?api_key=<sk-... or token>.", "api_key");
    token = await tokenOf(query.api_key);
  } else {
    token = await sha256Hex(given);
    const auth = await keyObject(c.env, token).authenticate();
    if (!auth.ok) throw refusalError(auth.refusal);
    if (query.api_key !== undefined && !(await secretsEqual(await tokenOf(query.api_key), token))) {
      throw forbidden("not_own_key", "A virtual key may only read its own spend log.");
    }
  }
  const entries = await keyObject(c.env, token).spendLog(query.limit);
  if (!entries) throw (await isMaster(c, given)) ? notFound("key_not_found", "No such key.") : unauthorized("Invalid API key.");
  return c.json(
    entries.map((entry): SpendLog => ({
      request_id: entry.request_id,
      api_key: token,
      model: entry.model,
      spend: nanosToUsd(entry.cost),
      total_tokens: entry.tokens,
      end_time: new Date(entry.at).toISOString(),
      outcome: entry.outcome as SpendLog["outcome"],
    })),
  );
});
