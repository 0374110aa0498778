import { describe, expect, it } from "vitest";
import {
  adjust,
  BUCKETS_PER_WINDOW,
  bucketTime,
  bucketWidth,
  charge,
  drainsIn,
  prune,
  usage,
  waitFor,
  type Window,
} from "../../src/limiter/window";
import { admitted, emptyState, limits, MINUTE, request } from "../helpers/limiter-fixtures";

const W = MINUTE; // bucket width 100 ms

function windowOf(...buckets: Array<[time: number, tokens: number, requests: number]>): Window {
  return { buckets: buckets.map(([time, tokens, requests]) => ({ time, tokens, requests })) };
}

describe("bucket stamping", () => {
  it("a 60 s window has 100 ms buckets", () => {
    expect(bucketWidth(W)).toBe(100);
  });

  it("stamps a request at the end of its bucket, never before it happened", () => {
    expect(bucketTime(0, W)).toBe(0);
    expect(bucketTime(1, W)).toBe(100);
    expect(bucketTime(99, W)).toBe(100);
    expect(bucketTime(100, W)).toBe(100);
    expect(bucketTime(101, W)).toBe(200);
    expect(bucketTime(59_999, W)).toBe(60_000);
  });

  it("never uses buckets narrower than 1 ms", () => {
    expect(bucketWidth(1)).toBe(1);
    expect(bucketWidth(599)).toBe(1);
    expect(bucketTime(7, 10)).toBe(7);
  });

  it.each([1, 10, 599, 600, 601, 1_000, 1_199, 1_234, 5_000, 59_999, 60_000, 86_400_000])(
    "a %i ms window spans at most BUCKETS_PER_WINDOW bucket widths",
    (windowMs) => {
      expect(windowMs / bucketWidth(windowMs)).toBeLessThanOrEqual(BUCKETS_PER_WINDOW);
    },
  );

  it("a 1 s window keeps at most BUCKETS_PER_WINDOW + 1 buckets under a request every millisecond", () => {
    const lim = limits({ windowMs: 1_000 });
    const state = emptyState();
    let most = 0;
    for (let clock = 0; clock < 3_000; clock++) {
      admitted(state, lim, request(), clock);
      most = Math.max(most, state.windows.get("*")?.buckets.length ?? 0);
    }
    expect(most).toBeLessThanOrEqual(BUCKETS_PER_WINDOW + 1);
  });
});

describe("charge", () => {
  it("keeps buckets sorted and merges charges to the same stamp", () => {
    const window = windowOf();
    charge(window, 300, 3, 1);
    charge(window, 100, 1, 1);
    charge(window, 200, 2, 1);
    const merged = charge(window, 200, 5, 2);
    expect(merged).toEqual({ time: 200, tokens: 7, requests: 3 });
    expect(window).toEqual(windowOf([100, 1, 1], [200, 7, 3], [300, 3, 1]));
    expect(usage(window)).toEqual({ tokens: 11, requests: 5 });
  });
});

describe("adjust", () => {
  it("corrects the bucket with the given stamp and never goes below zero", () => {
    const window = windowOf([100, 10, 2], [200, 5, 1]);
    expect(adjust(window, 200, -3, 0)).toEqual({ time: 200, tokens: 2, requests: 1 });
    expect(adjust(window, 100, -50, -5)).toEqual({ time: 100, tokens: 0, requests: 0 });
    expect(window).toEqual(windowOf([100, 0, 0], [200, 2, 1]));
  });

  it("returns undefined when the bucket already left", () => {
    const window = windowOf([200, 5, 1]);
    expect(adjust(window, 100, -1, 0)).toBeUndefined();
    expect(window).toEqual(windowOf([200, 5, 1]));
  });
});

describe("prune", () => {
  it("drops a bucket exactly when its stamp is windowMs old and returns the stamps dropped", () => {
    const window = windowOf([100, 1, 1], [200, 2, 1], [300, 3, 1]);
    expect(prune(window, 60_099, W)).toEqual([]);
    expect(window.buckets).toHaveLength(3);
    expect(prune(window, 60_100, W)).toEqual([100]);
    expect(prune(window, 60_350, W)).toEqual([200, 300]);
    expect(window.buckets).toEqual([]);
    expect(prune(window, 99_999, W)).toEqual([]);
  });
});

describe("waitFor", () => {
  // 30 tokens stamped 100, 50 tokens stamped 200; limit 100; now 250.
  const window = (): Window => windowOf([100, 30, 1], [200, 50, 2]);
  const now = 250;

  it("is 0 when the need fits now", () => {
    expect(waitFor(window(), "tokens", 20, 100, now, W)).toBe(0);
    expect(waitFor(windowOf(), "tokens", 100, 100, now, W)).toBe(0);
  });

  it("is the time until the oldest buckets that must leave have left", () => {
    expect(waitFor(window(), "tokens", 21, 100, now, W)).toBe(100 + W - now);
    expect(waitFor(window(), "tokens", 50, 100, now, W)).toBe(100 + W - now);
    expect(waitFor(window(), "tokens", 51, 100, now, W)).toBe(200 + W - now);
    expect(waitFor(window(), "tokens", 100, 100, now, W)).toBe(200 + W - now);
  });

  it("counts requests the same way", () => {
    expect(waitFor(window(), "requests", 1, 4, now, W)).toBe(0);
    expect(waitFor(window(), "requests", 1, 3, now, W)).toBe(100 + W - now);
    expect(waitFor(window(), "requests", 1, 1, now, W)).toBe(200 + W - now);
  });

  it("is null when the need exceeds the limit, even in an empty window", () => {
    expect(waitFor(window(), "tokens", 101, 100, now, W)).toBeNull();
    expect(waitFor(windowOf(), "tokens", 101, 100, now, W)).toBeNull();
    expect(waitFor(windowOf(), "requests", 1, 0, now, W)).toBeNull();
  });

  it("skips buckets whose measure is already zero", () => {
    expect(waitFor(windowOf([100, 0, 1], [200, 60, 1]), "tokens", 50, 100, now, W)).toBe(200 + W - now);
  });
});

describe("drainsIn", () => {
  it("is the time until the newest bucket holding the measure leaves", () => {
    const window = windowOf([100, 30, 1], [200, 0, 1], [300, 0, 0]);
    expect(drainsIn(window, "tokens", 250, W)).toBe(100 + W - 250);
    expect(drainsIn(window, "requests", 250, W)).toBe(200 + W - 250);
  });

  it("is 0 for an empty window", () => {
    expect(drainsIn(windowOf(), "tokens", 250, W)).toBe(0);
    expect(drainsIn(windowOf([100, 0, 0]), "requests", 250, W)).toBe(0);
  });
});
