import { describe, expect, it } from "vitest";
import { leaseBook } from "../../src/leases/book";
import { call, createKey, ensureTeam, json, keyInfo, settled } from "../helpers/gateway";
import { admittedHere, chatVia, LEASING, NOT_LEASING, steadyCalls } from "./helpers";

const spendLog = async (key: string) => json<Array<Record<string, any>>>(await call(`/spend/logs?api_key=${encodeURIComponent(key)}&limit=1000`));

describe("a key called steadily through a front door with leases", () => {
  it("lends the front door a lease, and the calls after it are admitted there without asking the key's object", async () => {
    const key = await createKey({ tpm_limit: 1_000_000, rpm_limit: 10_000 });
    const answers = await steadyCalls(25, () => chatVia(LEASING, key.key));
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(admittedHere("key", key.token)).toBeGreaterThan(0);
  });

  it("shows the leased capacity and live leases in /key/info, counted in the window already", async () => {
    const key = await createKey({ tpm_limit: 1_000_000, rpm_limit: 10_000, max_budget: 5 });
    await steadyCalls(20, () => chatVia(LEASING, key.key));
    const info = await keyInfo(key.key);
    const leased = info.usage.leased;
    expect(leased.leases).toBeGreaterThanOrEqual(1);
    expect(leased.requests).toBeGreaterThan(0);
    expect(leased.tokens).toBeGreaterThan(0);
    expect(leased.spend).toBeGreaterThan(0);
    expect(info.usage.requests).toBeGreaterThanOrEqual(leased.requests);
    expect(info.usage.tokens).toBeGreaterThanOrEqual(leased.tokens);
    expect(info.usage.reserved_spend).toBeGreaterThanOrEqual(leased.spend);
  });

  it("gets back exactly the calls' usage once the lease is back: requests, tokens, spend and one spend-log line per call", async () => {
    const key = await createKey({ tpm_limit: 1_000_000, rpm_limit: 10_000, max_budget: 5 });
    const answers = await steadyCalls(30, () => chatVia(LEASING, key.key));
    expect(admittedHere("key", key.token)).toBeGreaterThan(0);
    const info = await settled(key.key, 15_000);
    expect(info.usage.requests).toBe(answers.length);
    expect(info.usage.tokens).toBe(answers.reduce((sum, answer) => sum + answer.tokens, 0));
    const costs = answers.reduce((sum, answer) => sum + Math.round(answer.cost * 1e9), 0);
    expect(Math.round(info.spend * 1e9)).toBe(costs);
    const lines = await spendLog(key.key);
    expect(lines.map((line) => line.request_id).sort()).toEqual(answers.map((answer) => answer.callId).sort());
    expect(new Set(lines.map((line) => line.outcome))).toEqual(new Set(["settled"]));
  });

  it("turns calls still running when their lease goes back into reservations at the key, which settle when they end", async () => {
    const key = await createKey({ tpm_limit: 1_000_000, rpm_limit: 10_000, max_budget: 5 });
    await steadyCalls(15, () => chatVia(LEASING, key.key));
    expect(admittedHere("key", key.token)).toBeGreaterThan(0);
    // Longer than a lease: each is in flight when its lease goes back.
    const slow = await Promise.all(Array.from({ length: 6 }, () => chatVia(LEASING, key.key, {}, { "x-mock-latency-ms": "2600" })));
    expect(slow.every((answer) => answer.status === 200)).toBe(true);
    const info = await settled(key.key, 15_000);
    expect(info.usage.requests).toBe(21);
    const lines = await spendLog(key.key);
    expect(lines).toHaveLength(21);
    for (const answer of slow) expect(lines.find((line) => line.request_id === answer.callId)?.outcome).toBe("settled");
  });

  it("never admits over rpm_limit, and the rest of the limit is usable once the leases are back", async () => {
    const limit = 30;
    const key = await createKey({ rpm_limit: limit });
    const answers = await steadyCalls(45, () => chatVia(LEASING, key.key), 20);
    const admitted = answers.filter((answer) => answer.status === 200).length;
    expect(admitted).toBeLessThanOrEqual(limit);
    expect(answers.filter((answer) => answer.status !== 200).every((answer) => answer.status === 429)).toBe(true);
    let info = await settled(key.key, 15_000);
    expect(info.usage.requests).toBe(admitted);
    for (let more = admitted; more < limit; more++) expect((await chatVia(NOT_LEASING, key.key)).status).toBe(200);
    info = await settled(key.key, 15_000);
    expect(info.usage.requests).toBe(limit);
    expect((await chatVia(NOT_LEASING, key.key)).status).toBe(429);
  });

  it("never lets the strict policy's answered tokens exceed tpm_limit", async () => {
    const key = await createKey({ tpm_limit: 900, reservation_policy: "strict" });
    const answers = await steadyCalls(60, () => chatVia(LEASING, key.key), 15);
    const tokens = answers.reduce((sum, answer) => sum + answer.tokens, 0);
    expect(answers.some((answer) => answer.status === 429)).toBe(true);
    expect(tokens).toBeLessThanOrEqual(900);
    const info = await settled(key.key, 15_000);
    expect(info.usage.tokens).toBe(tokens);
  });

  it("stops admitting under its leases the moment the key is blocked through this front door", async () => {
    const key = await createKey({ tpm_limit: 1_000_000, rpm_limit: 10_000 });
    await steadyCalls(20, () => chatVia(LEASING, key.key));
    expect(leaseBook.held("key", key.token, "gpt-4o-mini").active).not.toBeNull();
    expect((await call("/key/block", { body: { key: key.key } })).status).toBe(200);
    expect(leaseBook.held("key", key.token, "gpt-4o-mini").active).toBeNull();
    expect((await chatVia(LEASING, key.key)).status).toBe(403);
  });

  it("asks for no lease with LEASES=off, however steady the traffic", async () => {
    const key = await createKey({ tpm_limit: 1_000_000 });
    await steadyCalls(20, () => chatVia(NOT_LEASING, key.key));
    expect(leaseBook.held("key", key.token, "gpt-4o-mini").active).toBeNull();
    expect((await keyInfo(key.key)).usage.leased.leases).toBe(0);
  });
});

describe("teams and deployments", () => {
  it("lend leases too: a key's team and the model's deployment admit steady calls at the front door", async () => {
    await ensureTeam("leasing-team", { tpm_limit: 1_000_000 });
    const key = await createKey({ team_id: "leasing-team" });
    const answers = await steadyCalls(30, () => chatVia(LEASING, key.key, { model: "shared-model", max_tokens: 5 }), 60);
    expect(answers.filter((answer) => answer.status === 200).length).toBeGreaterThan(20);
    expect(admittedHere("key", key.token, "shared-model")).toBeGreaterThan(0);
    expect(admittedHere("team", "leasing-team", "shared-model")).toBeGreaterThan(0);
    expect(admittedHere("deployment", "shared-1", "shared-model")).toBeGreaterThan(0);
  });
});
