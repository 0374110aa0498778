import type { Bindings } from "../bindings";
import { loadConfig, type Config } from "../config/config";
import { deploymentObject, directory, endUserObject, keyObject, teamObject } from "../stubs";
import { alertEventSchema, type AlertEvent } from "./event";
import { alertBody, summarize } from "./format";
import { SIGNATURE_HEADER, sign } from "./signature";

/**
 * The ALERTS queue's consumers (wired in wrangler.toml; src/index.ts dispatches on the queue's name).
 *
 * consumeAlerts posts each event to ALERT_WEBHOOK_URL, signed (src/alerts/signature.ts), and on a 2xx tells the
 * owner object that emitted it (ackAlert), so its outbox stops re-sending it. Anything else is retried with
 * exponential backoff; after the consumer's max_retries the queue moves the message to the dead-letter queue,
 * where consumeDeadAlerts records it in the directory (GET /alerts/dead-letters) and acknowledges the owner too:
 * delivery is given up, but the event is kept. Receivers get every event at least once, and de-duplicate by id.
 */

/** The dead-letter queue's name (wrangler.toml's dead_letter_queue): its batches go to consumeDeadAlerts. */
export const ALERT_DEAD_LETTER_QUEUE = "edgequota-alerts-dlq";

/** A webhook that has not answered in this long has failed (the delivery is retried). */
export const WEBHOOK_TIMEOUT_MS = 10_000;

/** The longest a refused delivery waits before its next attempt (seconds). */
export const MAX_RETRY_DELAY_SECONDS = 300;

/** base * 2^(attempts - 1) seconds, at most MAX_RETRY_DELAY_SECONDS: 2, 4, 8, 16... with the default base of 2. */
export function retryDelaySeconds(attempts: number, baseSeconds: number): number {
  return Math.min(MAX_RETRY_DELAY_SECONDS, Math.round(baseSeconds * 2 ** Math.max(0, attempts - 1)));
}

/** The object that emitted the event: its outbox keeps the event until ackAlert (src/objects/protocol.ts Owner). */
function ownerObject(env: Bindings, owner: AlertEvent["owner"]): { ackAlert(id: string): Promise<boolean> } {
  switch (owner.kind) {
    case "key":
      return keyObject(env, owner.id);
    case "team":
      return teamObject(env, owner.id);
    case "end_user":
      return endUserObject(env, owner.id);
    case "deployment":
      return deploymentObject(env, owner.id);
  }
}

/** One structured log line (Workers Logs and `wrangler tail` index JSON lines). */
function log(level: "info" | "warn" | "error", message: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, message, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Tells the owner the event is done with. A failure only means the owner re-sends it later: receivers de-duplicate. */
async function acknowledgeOwner(env: Bindings, event: AlertEvent): Promise<void> {
  try {
    await ownerObject(env, event.owner).ackAlert(event.id);
  } catch (error) {
    log("warn", "alert delivered, but its owner could not be told; it will re-send it", { id: event.id, owner: event.owner.kind, error: errorText(error) });
  }
}

function parseEvent(message: Message<unknown>): AlertEvent | null {
  const parsed = alertEventSchema.safeParse(message.body);
  if (parsed.success) return parsed.data;
  log("error", "invalid alert message dropped (not an AlertEvent)", {
    message_id: message.id,
    issues: parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`),
  });
  return null;
}

let warnedUnsigned = false;

type Delivery = { ok: true; status: number } | { ok: false; reason: string; retryAfterSeconds: number | null };

/** Retry-After in seconds (a number or an HTTP date), or null. */
function retryAfter(response: Response): number | null {
  const value = response.headers.get("retry-after");
  if (value === null) return null;
  if (/^\s*\d+\s*$/.test(value)) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

async function post(event: AlertEvent, alerts: Config["alerts"], url: string): Promise<Delivery> {
  const body = alertBody(event, alerts.format);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": "edgequota-alerts",
    "x-edgequota-event-id": event.id,
    "x-edgequota-event-type": event.type,
  };
  if (alerts.webhookSecret !== null) {
    headers[SIGNATURE_HEADER] = await sign(body, alerts.webhookSecret, Math.floor(Date.now() / 1000));
  } else if (!warnedUnsigned) {
    warnedUnsigned = true;
    log("warn", "ALERT_WEBHOOK_SECRET is not set: alerts are posted unsigned, so receivers cannot tell them from forgeries");
  }
  let response: Response;
  try {
    // manual: a redirected POST would arrive as a GET without its body, and its 2xx would count as delivered.
    response = await fetch(url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS) });
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    return { ok: false, reason: timedOut ? `no answer within ${WEBHOOK_TIMEOUT_MS / 1000} s` : `request failed: ${errorText(error)}`, retryAfterSeconds: null };
  }
  await response.body?.cancel().catch(() => undefined);
  if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
  const redirected = response.status >= 300 && response.status < 400;
  return {
    ok: false,
    reason: redirected ? `HTTP ${response.status}: redirects are not followed; set ALERT_WEBHOOK_URL to the final URL` : `HTTP ${response.status}`,
    retryAfterSeconds: retryAfter(response),
  };
}

async function consumeOne(message: Message<unknown>, env: Bindings, alerts: Config["alerts"]): Promise<void> {
  const event = parseEvent(message);
  if (event === null) {
    message.ack();
    return;
  }
  try {
    if (alerts.webhookUrl === null) {
      await acknowledgeOwner(env, event);
      log("info", "alert (ALERT_WEBHOOK_URL is not set: logged, not posted)", { summary: summarize(event), event });
      message.ack();
      return;
    }
    const delivery = await post(event, alerts, alerts.webhookUrl);
    if (delivery.ok) {
      await acknowledgeOwner(env, event);
      message.ack();
      return;
    }
    const backoff = retryDelaySeconds(message.attempts, alerts.retryBaseSeconds);
    const delaySeconds = Math.min(MAX_RETRY_DELAY_SECONDS, Math.max(backoff, delivery.retryAfterSeconds ?? 0));
    log("warn", "alert delivery refused; retrying", { id: event.id, type: event.type, attempt: message.attempts, reason: delivery.reason, retry_in_seconds: delaySeconds });
    message.retry({ delaySeconds });
  } catch (error) {
    const delaySeconds = retryDelaySeconds(message.attempts, alerts.retryBaseSeconds);
    log("error", "alert delivery failed; retrying", { id: event.id, attempt: message.attempts, error: errorText(error), retry_in_seconds: delaySeconds });
    message.retry({ delaySeconds });
  }
}

/** The ALERTS queue's consumer: one webhook POST per event, in parallel within the batch. */
export async function consumeAlerts(batch: MessageBatch<unknown>, env: Bindings): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    // Nothing can be delivered until the configuration is fixed; keep the events (retries, then the dead letters).
    log("error", "alerts not delivered: the configuration is invalid", { error: errorText(error) });
    for (const message of batch.messages) message.retry({ delaySeconds: retryDelaySeconds(message.attempts, 2) });
    return;
  }
  await Promise.all(batch.messages.map((message) => consumeOne(message, env, config.alerts)));
}

/** The dead-letter queue's consumer: keeps each event the webhook kept refusing, and stops its owner re-sending it. */
export async function consumeDeadAlerts(batch: MessageBatch<unknown>, env: Bindings): Promise<void> {
  await Promise.all(
    batch.messages.map(async (message) => {
      const event = parseEvent(message);
      if (event === null) {
        message.ack();
        return;
      }
      try {
        await directory(env).putDeadAlert({
          id: event.id,
          type: event.type,
          owner_kind: event.owner.kind,
          owner_id: event.owner.id,
          event: JSON.stringify(event),
          at: new Date().toISOString(),
        });
      } catch (error) {
        log("error", "dead alert could not be recorded; retrying", { id: event.id, error: errorText(error) });
        message.retry({ delaySeconds: retryDelaySeconds(message.attempts, 2) });
        return;
      }
      await acknowledgeOwner(env, event);
      message.ack();
      log("error", "alert delivery given up: kept in GET /alerts/dead-letters", { id: event.id, type: event.type, owner: event.owner, summary: summarize(event) });
    }),
  );
}
