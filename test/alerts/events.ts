import type { AlertEvent } from "../../src/alerts/event";

const TOKEN = "a".repeat(64);

/** A valid event of each type, as the owner objects emit them; `overrides` replaces top-level fields. */
export function alertEvent(overrides: Partial<AlertEvent> = {}): AlertEvent {
  return {
    id: `key:${TOKEN}:budget_threshold:2026-11:0.8`,
    type: "budget_threshold",
    at: "2026-11-20T10:11:12.345Z",
    owner: { kind: "key", id: TOKEN, alias: "demo-app", team_id: null },
    figures: { spend: 8.123, max_budget: 10, threshold: 0.8, budget_reset_at: "2026-12-01T00:00:00.000Z" },
    ...overrides,
  };
}

/** A fresh id each call, so tests sharing the directory do not see each other's rows. */
export const uniqueId = (prefix = "test") => `${prefix}:${crypto.randomUUID()}`;
