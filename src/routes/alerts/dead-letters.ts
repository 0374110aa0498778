import { Hono } from "hono";
import type { AlertEvent } from "../../alerts/event";
import type { AppEnv } from "../../http/app-env";
import { validate } from "../../http/json-body";
import { requireMaster } from "../../http/master-auth";
import { deadLettersQuerySchema, type DeadLetter } from "../../schemas/alerts";
import { directory } from "../../stubs";

/**
 * The alerts whose delivery was given up (src/alerts/consumer.ts consumeDeadAlerts), newest first, `?limit=` of
 * them (100 by default); x-total-count says how many are kept. Master key only: events name keys, teams and spend.
 */
export const deadLetters = new Hono<AppEnv>().get("/alerts/dead-letters", requireMaster, async (c) => {
  const { limit } = validate(deadLettersQuerySchema, c.req.query());
  const { entries, total } = await directory(c.env).listDeadAlerts(limit);
  c.header("x-total-count", String(total));
  return c.json(
    entries.map((entry): DeadLetter => {
      const event = JSON.parse(entry.event) as AlertEvent;
      return {
        id: entry.id,
        type: event.type,
        owner: { kind: event.owner.kind, id: event.owner.id },
        count: entry.count,
        first_at: entry.first_at,
        last_at: entry.last_at,
        event,
      };
    }),
  );
});
