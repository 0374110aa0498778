import { describe, expect, it } from "vitest";
import { memoize } from "../../src/pricing/memo";

describe("memoize", () => {
  const counting = () => {
    const calls: string[] = [];
    const lookup = memoize(
      (key: string) => {
        calls.push(key);
        return key.toUpperCase();
      },
      { capacity: 2, ttlMs: 1000 },
    );
    return { calls, lookup };
  };

  it("answers a repeated key from memory until it expires", () => {
    const { calls, lookup } = counting();
    expect(lookup("a", 0)).toBe("A");
    expect(lookup("a", 999)).toBe("A");
    expect(calls).toEqual(["a"]);
    expect(lookup("a", 1000)).toBe("A");
    expect(calls).toEqual(["a", "a"]);
  });

  it("keeps at most `capacity` keys, forgetting the oldest first", () => {
    const { calls, lookup } = counting();
    lookup("a", 0);
    lookup("b", 0);
    lookup("c", 0);
    lookup("b", 0);
    lookup("a", 0);
    expect(calls).toEqual(["a", "b", "c", "a"]);
  });
});
