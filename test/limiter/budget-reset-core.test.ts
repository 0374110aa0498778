import { describe, expect, it } from "vitest";
import { advance, nextWakeAt, settle, snapshot, type LimiterState, type Limits } from "../../src/limiter";
import { admitted, budget, DAY, emptyState, HOUR, limits, period, price, request } from "../helpers/limiter-fixtures";

const T0 = 5_000;
const daily = limits({ budget: budget({ max: 10_000, period: period(1, "d") }), reservationTtlMs: 10_000 });
/** 900 nano-dollars reserved, 500 tokens. */
const estimate = () => request({ promptTokens: 100, maxOutputTokens: 400, price: price(1, 2) });

function spendOf(state: LimiterState, lim: Limits, cost: number, at: number): void {
  const reservation = admitted(state, lim, estimate(), at);
  settle(state, lim, reservation.requestId, { tokens: 100, cost }, at);
}

describe("periodic budget reset", () => {
  it("the first reset is one period after the budget is first used", () => {
    const state = emptyState();
    spendOf(state, daily, 300, T0);
    expect(snapshot(state, daily, T0).budget).toMatchObject({ spend: 300, resetAt: T0 + DAY });
  });

  it("spend returns to 0 exactly at resetAt, not 1 ms earlier, and the next reset is one period later", () => {
    const state = emptyState();
    spendOf(state, daily, 300, T0);
    expect(snapshot(state, daily, T0 + DAY - 1).budget).toMatchObject({ spend: 300, resetAt: T0 + DAY });
    expect(snapshot(state, daily, T0 + DAY).budget).toMatchObject({ spend: 0, resetAt: T0 + 2 * DAY });
  });

  it("a late access long after several periods lands on the right boundary", () => {
    const state = emptyState();
    spendOf(state, daily, 300, T0);
    expect(snapshot(state, daily, T0 + 5 * DAY + 12 * HOUR).budget).toMatchObject({ spend: 0, resetAt: T0 + 6 * DAY });
    spendOf(state, daily, 200, T0 + 5 * DAY + 13 * HOUR);
    expect(snapshot(state, daily, T0 + 6 * DAY - 1).budget).toMatchObject({ spend: 200, resetAt: T0 + 6 * DAY });
    expect(snapshot(state, daily, T0 + 6 * DAY).budget).toMatchObject({ spend: 0, resetAt: T0 + 7 * DAY });
  });

  it("a late access exactly on a later boundary resets and schedules the one after", () => {
    const state = emptyState();
    spendOf(state, daily, 300, T0);
    expect(snapshot(state, daily, T0 + 3 * DAY).budget).toMatchObject({ spend: 0, resetAt: T0 + 4 * DAY });
  });

  it("a monthly budget started on the 31st resets on each month's last day without drifting to the 28th", () => {
    const monthly = limits({ budget: budget({ max: 10_000, period: period(1, "mo") }) });
    const state = emptyState();
    const start = Date.UTC(2025, 0, 31, 12);
    spendOf(state, monthly, 100, start);
    const resets: number[] = [];
    let at = start;
    for (let month = 0; month < 4; month++) {
      const resetAt = snapshot(state, monthly, at).budget.resetAt!;
      resets.push(resetAt);
      at = resetAt;
    }
    expect(resets).toEqual([Date.UTC(2025, 1, 28, 12), Date.UTC(2025, 2, 31, 12), Date.UTC(2025, 3, 30, 12), Date.UTC(2025, 4, 31, 12)]);
  });

  it("monthly budgets reset on the same day of each month", () => {
    const monthly = limits({ budget: budget({ max: 10_000, period: period(1, "mo") }) });
    const start = Date.UTC(2025, 0, 15, 10);
    const state = emptyState();
    spendOf(state, monthly, 300, start);
    expect(snapshot(state, monthly, start).budget.resetAt).toBe(Date.UTC(2025, 1, 15, 10));
    expect(snapshot(state, monthly, Date.UTC(2025, 1, 15, 10) - 1).budget.spend).toBe(300);
    expect(snapshot(state, monthly, Date.UTC(2025, 1, 15, 10)).budget).toMatchObject({ spend: 0, resetAt: Date.UTC(2025, 2, 15, 10) });
    expect(snapshot(state, monthly, Date.UTC(2025, 6, 20)).budget).toMatchObject({ spend: 0, resetAt: Date.UTC(2025, 7, 15, 10) });
  });

  it("reserved money survives a reset and is settled into the new period", () => {
    const lim = limits({ ...daily, reservationTtlMs: 2 * DAY });
    const state = emptyState();
    spendOf(state, lim, 300, T0);
    const inFlight = admitted(state, lim, estimate(), T0 + DAY - 1);
    expect(snapshot(state, lim, T0 + DAY).budget).toMatchObject({ spend: 0, reserved: 900 });
    settle(state, lim, inFlight.requestId, { tokens: 100, cost: 400 }, T0 + DAY + 10);
    expect(snapshot(state, lim, T0 + DAY + 10).budget).toMatchObject({ spend: 400, reserved: 0 });
  });

  it("a reservation that expires after the reset is charged to the new period even when noticed late", () => {
    const state = emptyState();
    spendOf(state, daily, 300, T0);
    const reservation = admitted(state, daily, estimate(), T0 + DAY - 1_000); // expires at T0 + DAY + 9 000
    const { expired } = advance(state, daily, T0 + DAY + 60_000);
    expect(expired.map((settlement) => [settlement.reservation.requestId, settlement.cost])).toEqual([[reservation.requestId, 900]]);
    expect(snapshot(state, daily, T0 + DAY + 60_000).budget).toMatchObject({ spend: 900, reserved: 0, resetAt: T0 + 2 * DAY });
  });

  it("a reservation that expired before the reset belongs to the old period", () => {
    const state = emptyState();
    spendOf(state, daily, 300, T0);
    admitted(state, daily, estimate(), T0 + DAY - 20_000); // expires at T0 + DAY - 10 000
    expect(advance(state, daily, T0 + DAY + 60_000).expired).toHaveLength(1);
    expect(snapshot(state, daily, T0 + DAY + 60_000).budget).toMatchObject({ spend: 0, reserved: 0 });
  });

  it("the soft-budget crossing is forgotten at the reset", () => {
    const lim = limits({ budget: budget({ soft: 100, period: period(1, "h") }) });
    const state = emptyState();
    spendOf(state, lim, 300, T0);
    expect(snapshot(state, lim, T0 + HOUR - 1).budget.softCrossedAt).toBe(T0);
    expect(snapshot(state, lim, T0 + HOUR).budget.softCrossedAt).toBeNull();
  });
});

describe("nextWakeAt", () => {
  it("is null when nothing is scheduled", () => {
    const state = emptyState();
    expect(nextWakeAt(state)).toBeNull();
    const lim = limits();
    settle(state, lim, admitted(state, lim, request(), 0).requestId, { tokens: 1, cost: 0 }, 10);
    expect(nextWakeAt(state)).toBeNull();
  });

  it("is the reservation's expiry when that comes before the budget reset", () => {
    const state = emptyState();
    const reservation = admitted(state, daily, estimate(), T0);
    expect(nextWakeAt(state)).toBe(T0 + 10_000);
    settle(state, daily, reservation.requestId, { tokens: 1, cost: 1 }, T0 + 10);
    expect(nextWakeAt(state)).toBe(T0 + DAY);
  });

  it("is the budget reset when that comes before every expiry", () => {
    const lim = limits({ ...daily, reservationTtlMs: 2 * DAY });
    const state = emptyState();
    admitted(state, lim, estimate(), T0);
    admitted(state, lim, estimate(), T0 + HOUR);
    expect(nextWakeAt(state)).toBe(T0 + DAY);
  });

  it("is the earliest of several reservations", () => {
    const state = emptyState();
    const lim = limits({ reservationTtlMs: 10_000 });
    admitted(state, lim, request(), 1_000);
    admitted(state, limits({ reservationTtlMs: 5_000 }), request(), 2_000);
    admitted(state, lim, request(), 3_000);
    expect(nextWakeAt(state)).toBe(7_000);
  });
});
