import type { AlertEvent } from "./event";

/**
 * What the webhook receives. "json" (the default): the event itself, exactly as src/alerts/event.ts describes it.
 * "slack": a Slack incoming-webhook message (also understood by Slack-compatible receivers such as Mattermost):
 * one human line per event in `text`, repeated in a section block, and a context block with the event's id, type
 * and time. The id also ends `text`, so receivers that read only `text` can still de-duplicate by it.
 */
export type AlertFormat = "json" | "slack";

export function alertBody(event: AlertEvent, format: AlertFormat): string {
  return JSON.stringify(format === "slack" ? slackMessage(event) : event);
}

const OWNER_NAMES: Record<AlertEvent["owner"]["kind"], string> = { key: "Key", team: "Team", end_user: "End user", deployment: "Deployment" };

/** "Key 'demo-app'", or a key without alias by the start of its token (the SHA-256 of its secret, never the secret). */
function ownerName(owner: AlertEvent["owner"]): string {
  const kind = OWNER_NAMES[owner.kind];
  if (owner.alias !== null && owner.alias !== "") return `${kind} '${owner.alias}'`;
  if (owner.kind === "key" && owner.id.length > 16) return `${kind} ${owner.id.slice(0, 12)}…`;
  return `${kind} '${owner.id}'`;
}

/** US dollars: cents, or more digits for amounts below a cent ($0.0042). */
export function usd(value: number): string {
  const sign = value < 0 ? "-" : "";
  const amount = Math.abs(value);
  if (amount === 0 || amount >= 0.01) return `${sign}$${amount.toFixed(2)}`;
  // Two significant digits, never in exponent notation ($0.0000001, not $1e-7).
  const digits = Math.min(20, 1 - Math.floor(Math.log10(amount)));
  return `${sign}$${amount.toFixed(digits).replace(/0+$/, "")}`;
}

const percent = (fraction: number) => `${Math.round(fraction * 1000) / 10}%`;

/** ISO times without milliseconds: 2026-12-01T00:00:00Z. */
const time = (iso: string) => iso.replace(/\.\d+Z$/, "Z");

/** The one-line summary of an event, e.g. "Key 'demo-app' crossed 80% of its $10.00 budget (spent $8.12; resets 2026-12-01T00:00:00Z)". */
export function summarize(event: AlertEvent): string {
  const who = ownerName(event.owner);
  const { spend, max_budget: maxBudget, soft_budget: softBudget, threshold, budget_reset_at: resetAt, cooldown_until: cooldownUntil } = event.figures;
  const details = (...parts: Array<string | null>) => {
    const present = parts.filter((part): part is string => part !== null);
    return present.length > 0 ? ` (${present.join("; ")})` : "";
  };
  const spent = spend === undefined ? null : `spent ${usd(spend)}`;
  const resets = resetAt ? `resets ${time(resetAt)}` : null;
  const budget = (amount: number | null | undefined) => (amount === null || amount === undefined ? "" : ` ${usd(amount)}`);
  switch (event.type) {
    case "soft_budget_crossed":
      return `${who} crossed its soft budget${softBudget == null ? "" : ` of ${usd(softBudget)}`}${details(spent, maxBudget == null ? null : `max budget ${usd(maxBudget)}`, resets)}`;
    case "budget_threshold":
      return `${who} crossed ${threshold === undefined ? "a threshold" : percent(threshold)} of its${budget(maxBudget)} budget${details(spent, resets)}`;
    case "budget_exceeded":
      return `${who} exceeded its${budget(maxBudget)} budget; its calls are refused${resetAt ? ` until ${time(resetAt)}` : ""}${details(spent)}`;
    case "budget_reset":
      // The figures are the new period's: its budget, what it has spent so far, when it resets in turn.
      return `${who} started a new budget period${details(maxBudget == null ? null : `budget ${usd(maxBudget)}`, spend === undefined ? null : `spent ${usd(spend)} so far`, resetAt ? `next reset ${time(resetAt)}` : null)}`;
    case "key_blocked":
      return `${who} was blocked: its calls are refused until it is unblocked`;
    case "key_expired":
      return `${who} expired: its calls are refused`;
    case "deployment_cooldown":
      return `${who} is cooling down${cooldownUntil ? ` until ${time(cooldownUntil)}` : ""}: it is skipped meanwhile`;
  }
}

/** Slack's mrkdwn: &, < and > must be escaped, or an alias such as "<!channel>" would notify a whole channel. */
export const slackEscape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export interface SlackMessage {
  text: string;
  blocks: Array<Record<string, unknown>>;
}

/** Slack refuses a text object longer than 3,000 characters. */
const clip = (text: string, max = 3000) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

export function slackMessage(event: AlertEvent): SlackMessage {
  const line = clip(slackEscape(summarize(event)));
  const owner = `${event.owner.kind} ${event.owner.id}${event.owner.team_id ? ` · team ${event.owner.team_id}` : ""}`;
  return {
    text: `${line} (event ${slackEscape(event.id)})`,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: line } },
      {
        type: "context",
        elements: [{ type: "mrkdwn", text: clip(slackEscape(`${event.type} · ${time(event.at)} · ${owner} · event ${event.id}`)) }],
      },
    ],
  };
}
