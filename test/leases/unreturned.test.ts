import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { LeaseWant } from "../../src/limiter";
import { keyObject } from "../../src/stubs";
import { call, createKey, json, keyInfo, shiftClock } from "../helpers/gateway";

const want = (tokens: number, requests: number, cost: number): LeaseWant => ({
  leaseId: crypto.randomUUID(),
  model: "gpt-4o-mini",
  tokens,
  requests,
  slots: 4,
  cost,
  minTokens: 1,
  minCost: 1,
});
const nothing = { close: [], finishes: [], refusals: [] };
const spendLog = async (key: string) => json<Array<Record<string, any>>>(await call(`/spend/logs?api_key=${encodeURIComponent(key)}&limit=100`));

describe("a lease its front door never gives back", () => {
  it("is charged in full when it ends: its tokens and requests stay counted, its money becomes spend, with a spend-log line", async () => {
    const key = await createKey({ tpm_limit: 100_000, rpm_limit: 1_000, max_budget: 1 });
    const answer = await keyObject(env, key.token).lease({ ...nothing, want: want(5_000, 40, 2_000_000) }, key.token);
    const lease = answer.grant!.lease;
    expect(lease).toMatchObject({ tokens: 5_000, requests: 40, cost: 2_000_000 });
    expect((await keyInfo(key.key)).usage.leased).toMatchObject({ leases: 1, tokens: 5_000, requests: 40, spend: 0.002 });

    await shiftClock(key.token, lease.expiresAt - lease.grantedAt + 1);
    const info = await keyInfo(key.key);
    expect(info.usage.leased.leases).toBe(0);
    expect(info.usage.tokens).toBe(5_000);
    expect(info.usage.requests).toBe(40);
    expect(info.spend).toBeCloseTo(0.002, 12);
    expect(info.usage.reserved_spend).toBe(0);
    const [line] = await spendLog(key.key);
    expect(line).toMatchObject({ request_id: lease.leaseId, outcome: "expired", spend: 0.002 });
  });

  it("is not charged twice when the front door gives it back late: the report is ignored and the lease named expired", async () => {
    const key = await createKey({ tpm_limit: 100_000, max_budget: 1 });
    const stub = keyObject(env, key.token);
    const lease = (await stub.lease({ ...nothing, want: want(5_000, 40, 2_000_000) }, key.token)).grant!.lease;
    await shiftClock(key.token, lease.expiresAt - lease.grantedAt + 1);
    const call = { requestId: crypto.randomUUID(), admittedAt: lease.grantedAt, tokens: 100, promptTokens: 50, promptBound: 50, promptExact: true, cost: 1_000 };
    const late = await stub.lease({ ...nothing, close: [{ leaseId: lease.leaseId, calls: [{ ...call, ended: { used: { tokens: 60, cost: 500 }, at: lease.grantedAt + 10 } }] }], want: null }, key.token);
    expect(late.expired).toEqual([lease.leaseId]);
    const info = await keyInfo(key.key);
    expect(info.spend).toBeCloseTo(0.002, 12);
    expect(info.usage.requests).toBe(0);
    expect(info.usage.tokens).toBe(5_000);
  });

  it("is not lent near the limit: below LEASE_MIN_FREE_PERCENT of free room every call goes to the key", async () => {
    const key = await createKey({ rpm_limit: 100 });
    const stub = keyObject(env, key.token);
    const first = await stub.lease({ ...nothing, want: want(1_000, 95, 0) }, key.token);
    // A lease takes at most a quarter of the free room (LEASE_SHARE_PERCENT 25).
    expect(first.grant!.lease.requests).toBe(25);
    let lent = 25;
    for (;;) {
      const next = await stub.lease({ ...nothing, want: want(1_000, 95, 0) }, key.token);
      if (!next.grant) break;
      lent += next.grant.lease.requests!;
    }
    // Geometric: each lease a quarter of what is left, until less than 10 of the 100 requests are free.
    expect(100 - lent).toBeLessThan(10);
    expect(100 - lent).toBeGreaterThan(0);
  });

  it("is not lent to a blocked key, nor for a model the key may not use", async () => {
    const key = await createKey({ tpm_limit: 100_000, models: ["gpt-4o-mini"] });
    const stub = keyObject(env, key.token);
    expect((await stub.lease({ ...nothing, want: { ...want(1_000, 10, 0), model: "gpt-4o" } }, key.token)).grant).toBeNull();
    await call("/key/block", { body: { key: key.key } });
    expect((await stub.lease({ ...nothing, want: want(1_000, 10, 0) }, key.token)).grant).toBeNull();
  });
});
