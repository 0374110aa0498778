import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addPeriod, nextBoundaryAfter, parsePeriod, type Period } from "../../src/limiter";
import { DAY, HOUR, MINUTE, period, SECOND } from "../helpers/limiter-fixtures";

const utc = (year: number, month: number, day: number, hour = 0, minute = 0): number =>
  Date.UTC(year, month - 1, day, hour, minute);

describe("parsePeriod", () => {
  it.each([
    ["30s", 30, "s"],
    ["30m", 30, "m"],
    ["24h", 24, "h"],
    ["30d", 30, "d"],
    ["2w", 2, "w"],
    ["1mo", 1, "mo"],
    ["12mo", 12, "mo"],
    ["3660d", 3660, "d"],
  ] as const)("accepts %s", (text, amount, unit) => {
    expect(parsePeriod(text)).toEqual({ amount, unit });
  });

  it.each(["", " ", "0d", "0mo", "-1d", "+1d", "1.5h", "10y", "1M", "30", "d", "01d", "1 d", "1dd", "1e3s"])(
    "rejects %j",
    (text) => {
      expect(parsePeriod(text)).toBeNull();
    },
  );

  it.each(["3661d", "99999d", "999999h", "600w", "999mo", "1000000s", "9999999d", "1".repeat(400) + "d"])(
    "rejects the huge amount %s",
    (text) => {
      expect(parsePeriod(text)).toBeNull();
    },
  );
});

describe("addPeriod", () => {
  it("adds fixed-length units in milliseconds", () => {
    expect(addPeriod(1_000, period(30, "s"))).toBe(1_000 + 30 * SECOND);
    expect(addPeriod(0, period(30, "m"))).toBe(30 * MINUTE);
    expect(addPeriod(0, period(24, "h"))).toBe(DAY);
    expect(addPeriod(5, period(30, "d"))).toBe(5 + 30 * DAY);
    expect(addPeriod(0, period(2, "w"))).toBe(14 * DAY);
  });

  it("clamps Jan 31 + 1mo to the last day of February", () => {
    expect(addPeriod(utc(2025, 1, 31), period(1, "mo"))).toBe(utc(2025, 2, 28));
    expect(addPeriod(utc(2024, 1, 31), period(1, "mo"))).toBe(utc(2024, 2, 29));
  });

  it("keeps the time of day and clamps to 30-day months", () => {
    expect(addPeriod(utc(2025, 3, 31, 13, 45), period(1, "mo"))).toBe(utc(2025, 4, 30, 13, 45));
    expect(addPeriod(utc(2025, 1, 15, 8), period(1, "mo"))).toBe(utc(2025, 2, 15, 8));
  });

  it("crosses year ends", () => {
    expect(addPeriod(utc(2024, 12, 31), period(2, "mo"))).toBe(utc(2025, 2, 28));
    expect(addPeriod(utc(2024, 11, 30), period(12, "mo"))).toBe(utc(2025, 11, 30));
    expect(addPeriod(utc(2024, 2, 29), period(12, "mo"))).toBe(utc(2025, 2, 28));
  });
});

describe("nextBoundaryAfter", () => {
  const hour = period(1, "h");

  it("returns the start when it is still in the future", () => {
    expect(nextBoundaryAfter(5 * HOUR, hour, 4 * HOUR)).toBe(5 * HOUR);
  });

  it("is strictly after now, also when now sits on a boundary", () => {
    expect(nextBoundaryAfter(0, hour, 0)).toBe(HOUR);
    expect(nextBoundaryAfter(0, hour, HOUR)).toBe(2 * HOUR);
    expect(nextBoundaryAfter(0, hour, HOUR - 1)).toBe(HOUR);
    expect(nextBoundaryAfter(7, hour, 3 * HOUR + 7)).toBe(4 * HOUR + 7);
  });

  it("jumps over many elapsed periods straight to the schedule", () => {
    expect(nextBoundaryAfter(123, period(30, "s"), 123 + 1_000_000 * 30 * SECOND + 1)).toBe(123 + 1_000_001 * 30 * SECOND);
  });

  it("follows the calendar-month schedule start + k months, not a drifting chain", () => {
    const start = utc(2025, 1, 31);
    const month = period(1, "mo");
    expect(nextBoundaryAfter(start, month, start)).toBe(utc(2025, 2, 28));
    expect(nextBoundaryAfter(start, month, utc(2025, 2, 28))).toBe(utc(2025, 3, 31));
    expect(nextBoundaryAfter(start, month, utc(2025, 3, 29))).toBe(utc(2025, 3, 31));
    expect(nextBoundaryAfter(start, month, utc(2025, 6, 1))).toBe(utc(2025, 6, 30));
    expect(nextBoundaryAfter(start, month, utc(2025, 12, 31))).toBe(utc(2026, 1, 31));
  });

  it("fixed periods: result is on the schedule, after now, and at most one period after now", () => {
    const unit = fc.constantFrom<Period["unit"]>("s", "m", "h", "d", "w");
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), unit, fc.nat(2e12), fc.nat(2e12), (amount, u, start, now) => {
        const p = period(amount, u);
        const span = addPeriod(0, p);
        const next = nextBoundaryAfter(start, p, now);
        expect(next).toBeGreaterThan(now);
        expect((next - start) % span).toBe(0);
        if (next > start) expect(next - span).toBeLessThanOrEqual(now);
        else expect(next).toBe(start);
      }),
      { numRuns: 300 },
    );
  });

  it("calendar months: result is start + k months, after now, and the previous boundary is not", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 13 }),
        fc.integer({ min: utc(2000, 1, 1), max: utc(2030, 1, 1) }),
        fc.integer({ min: 0, max: 5 * 366 * DAY }),
        (amount, start, elapsed) => {
          const now = start + elapsed;
          const next = nextBoundaryAfter(start, period(amount, "mo"), now);
          expect(next).toBeGreaterThan(now);
          let k = 1;
          while (addPeriod(start, period(amount * k, "mo")) < next) k++;
          expect(addPeriod(start, period(amount * k, "mo"))).toBe(next);
          const previous = k === 1 ? start : addPeriod(start, period(amount * (k - 1), "mo"));
          expect(previous).toBeLessThanOrEqual(now);
        },
      ),
      { numRuns: 200 },
    );
  });
});
