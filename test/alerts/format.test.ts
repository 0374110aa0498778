import { describe, expect, it } from "vitest";
import { ALERT_TYPES, type AlertEvent } from "../../src/alerts/event";
import { alertBody, slackMessage, summarize, usd } from "../../src/alerts/format";
import { alertEvent } from "./events";

const TEAM = { kind: "team", id: "team-research", alias: "Research", team_id: "team-research" } as const;

describe("the JSON format", () => {
  it("is the event itself", () => {
    const event = alertEvent();
    expect(JSON.parse(alertBody(event, "json"))).toEqual(event);
  });
});

describe("summaries", () => {
  const cases: Array<[AlertEvent, string]> = [
    [alertEvent(), "Key 'demo-app' crossed 80% of its $10.00 budget (spent $8.12; resets 2026-12-01T00:00:00Z)"],
    [
      alertEvent({ type: "soft_budget_crossed", figures: { spend: 5.5, soft_budget: 5, max_budget: 10, budget_reset_at: null } }),
      "Key 'demo-app' crossed its soft budget of $5.00 (spent $5.50; max budget $10.00)",
    ],
    [
      alertEvent({ type: "budget_exceeded", owner: TEAM, figures: { spend: 100.004, max_budget: 100, budget_reset_at: "2026-12-01T00:00:00Z" } }),
      "Team 'Research' exceeded its $100.00 budget; its calls are refused until 2026-12-01T00:00:00Z (spent $100.00)",
    ],
    [
      alertEvent({ type: "budget_reset", figures: { spend: 0, max_budget: 10, soft_budget: null, budget_reset_at: "2027-01-01T00:00:00.000Z" } }),
      "Key 'demo-app' started a new budget period (budget $10.00; spent $0.00 so far; next reset 2027-01-01T00:00:00Z)",
    ],
    [
      alertEvent({ type: "key_blocked", owner: { kind: "end_user", id: "user-42", alias: null, team_id: null }, figures: {} }),
      "End user 'user-42' was blocked: its calls are refused until it is unblocked",
    ],
    [alertEvent({ type: "key_expired", owner: { kind: "key", id: "f".repeat(64), alias: null, team_id: null }, figures: {} }), `Key ${"f".repeat(12)}… expired: its calls are refused`],
    [
      alertEvent({ type: "deployment_cooldown", owner: { kind: "deployment", id: "pool-a", alias: null, team_id: null }, figures: { cooldown_until: "2026-11-20T10:11:17.345Z" } }),
      "Deployment 'pool-a' is cooling down until 2026-11-20T10:11:17Z: it is skipped meanwhile",
    ],
  ];

  it("has one per event type", () => {
    expect(new Set(cases.map(([event]) => event.type))).toEqual(new Set(ALERT_TYPES));
  });

  it.each(cases)("%#: %s", (event, line) => {
    expect(summarize(event)).toBe(line);
  });

  it("leaves out figures an event lacks", () => {
    expect(summarize(alertEvent({ figures: { threshold: 0.5, max_budget: 2 } }))).toBe("Key 'demo-app' crossed 50% of its $2.00 budget");
    expect(summarize(alertEvent({ type: "budget_exceeded", figures: {} }))).toBe("Key 'demo-app' exceeded its budget; its calls are refused");
  });

  it("writes dollars with cents, and more digits below a cent", () => {
    expect([usd(0), usd(8.125), usd(0.0042), usd(1234.5), usd(-2)]).toEqual(["$0.00", "$8.13", "$0.0042", "$1234.50", "-$2.00"]);
    expect([usd(0.0000072), usd(1e-7), usd(0.00999), usd(0.000001)]).toEqual(["$0.0000072", "$0.0000001", "$0.01", "$0.000001"]);
  });
});

describe("the Slack format", () => {
  it("carries the summary in text and a section, and the event id in text and a context block", () => {
    const event = alertEvent();
    const body = JSON.parse(alertBody(event, "slack"));
    expect(body).toEqual(slackMessage(event));
    expect(body.text).toBe(`${summarize(event)} (event ${event.id})`);
    expect(body.blocks[0]).toEqual({ type: "section", text: { type: "mrkdwn", text: summarize(event) } });
    expect(body.blocks[1].type).toBe("context");
    expect(body.blocks[1].elements[0].text).toContain(`event ${event.id}`);
    expect(body.blocks[1].elements[0].text).toContain("budget_threshold · 2026-11-20T10:11:12Z · key ");
  });

  it("escapes &, < and > so an alias cannot mention a channel or forge a link", () => {
    const event = alertEvent({ owner: { kind: "key", id: "t", alias: "<!channel> & <https://evil.test|click>", team_id: null } });
    const body = slackMessage(event);
    for (const text of [body.text, JSON.stringify(body.blocks)]) {
      expect(text).not.toMatch(/<!channel>|<https/);
    }
    expect(body.text).toContain("Key '&lt;!channel&gt; &amp; &lt;https://evil.test|click&gt;'");
  });

  it("stays within Slack's 3,000 characters per text", () => {
    const body = slackMessage(alertEvent({ owner: { kind: "key", id: "t", alias: "x".repeat(5000), team_id: null } }));
    expect((body.blocks[0] as { text: { text: string } }).text.text.length).toBeLessThanOrEqual(3000);
  });
});
