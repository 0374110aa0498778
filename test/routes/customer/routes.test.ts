import { describe, expect, it } from "vitest";
import { MESSAGES } from "../../helpers/default-request";
import { call, chat, createKey, json, settled } from "../../helpers/gateway";
import { expectError, ok, unique } from "../../helpers/key-routes";
import {
  blockCustomers,
  customerInfo,
  customerSettled,
  deleteCustomers,
  newCustomer,
  unblockCustomers,
  updateCustomer,
} from "./customers";

// LiteLLM's customer API over the end-user objects: the master key registers, reads, changes, blocks and
// deletes end users; what a customer spends moves as calls name it through any key.

const LIMITS = { max_budget: 12.5, soft_budget: 10, budget_duration: "30d", tpm_limit: 50_000, rpm_limit: 120, max_parallel_requests: 7 };
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe("POST /customer/new", () => {
  it("registers a customer with LiteLLM's defaults and zero spend", async () => {
    const id = unique("cust");
    const created = await ok(await newCustomer({ user_id: id }));
    expect(created).toMatchObject({
      user_id: id, alias: null, blocked: false, metadata: {}, registered: true, spend: 0, reservation_policy: "adaptive",
      budget_reset_at: null, soft_budget_crossed_at: null,
      litellm_budget_table: { max_budget: null, soft_budget: null, budget_duration: null, tpm_limit: null, rpm_limit: null, max_parallel_requests: null },
    });
    expect(created.created_at).toMatch(ISO);
    expect(created.updated_at).toMatch(ISO);
    expect(created.usage).toMatchObject({ requests: 0, tokens: 0, in_flight: 0, reserved_tokens: 0, reserved_spend: 0 });
    expect(await ok(await customerInfo(id))).toEqual({ ...created, usage: expect.any(Object) });
  });

  it("keeps every field sent, the limits under litellm_budget_table", async () => {
    const id = unique("cust");
    const body = { user_id: id, alias: "Acme", blocked: false, metadata: { plan: "pro", seats: [1, 2] }, reservation_policy: "strict", ...LIMITS };
    const created = await ok(await newCustomer(body));
    expect(created).toMatchObject({ user_id: id, alias: "Acme", metadata: { plan: "pro", seats: [1, 2] }, reservation_policy: "strict", litellm_budget_table: LIMITS });
    expect(created.budget_reset_at).toMatch(ISO);
    expect(created.usage).toMatchObject({ tpm_limit: 50_000, rpm_limit: 120, max_parallel_requests: 7, reservation_policy: "strict" });
    const info = await ok(await customerInfo(id));
    expect(info).toMatchObject({ user_id: id, alias: "Acme", registered: true, spend: 0, litellm_budget_table: LIMITS });
  });

  it("registers an end user first created from a key's defaults, keeping what it has spent", async () => {
    const id = unique("implicit");
    const key = await createKey({ end_user_defaults: { max_budget: 1 } });
    expect((await chat(key.key, { user: id })).status).toBe(200);
    await settled(key.key);
    const before = await customerSettled(id);
    expect(before).toMatchObject({ registered: false, litellm_budget_table: { max_budget: 1 } });
    expect(before.spend).toBeGreaterThan(0);
    const registered = await ok(await newCustomer({ user_id: id, alias: "now known", max_budget: 3 }));
    expect(registered).toMatchObject({ registered: true, alias: "now known", spend: before.spend, litellm_budget_table: { max_budget: 3 } });
    expect(registered.created_at).toBe(before.created_at);
    // Its own limits now hold, whatever the key's defaults say.
    expect((await chat(key.key, { user: id })).status).toBe(200);
    await settled(key.key);
    expect(await customerSettled(id)).toMatchObject({ registered: true, litellm_budget_table: { max_budget: 3 } });
  });
});

describe("POST /customer/update", () => {
  it("changes the fields sent, keeps the others, and the new limits are enforced", async () => {
    const id = unique("cust");
    await ok(await newCustomer({ user_id: id, alias: "before", metadata: { a: 1 }, ...LIMITS }));
    const updated = await ok(await updateCustomer({ user_id: id, rpm_limit: 1, max_budget: 50, alias: "after" }));
    expect(updated).toMatchObject({ user_id: id, alias: "after", metadata: { a: 1 }, litellm_budget_table: { ...LIMITS, rpm_limit: 1, max_budget: 50 } });
    expect(updated.usage.rpm_limit).toBe(1);
    expect(Date.parse(updated.updated_at)).toBeGreaterThanOrEqual(Date.parse(updated.created_at));
    expect((await ok(await customerInfo(id))).litellm_budget_table.rpm_limit).toBe(1);
    const key = await createKey();
    expect((await chat(key.key, { user: id })).status).toBe(200);
    await expectError(await chat(key.key, { user: id }), 429, { code: "rpm_limit_exceeded" });
    // The key itself is not limited: another end user goes on.
    expect((await chat(key.key, { user: unique("other") })).status).toBe(200);
  });

  it("clears a limit with null", async () => {
    const id = unique("cust");
    await ok(await newCustomer({ user_id: id, ...LIMITS }));
    const updated = await ok(await updateCustomer({ user_id: id, tpm_limit: null, alias: null }));
    expect(updated.litellm_budget_table).toMatchObject({ tpm_limit: null, rpm_limit: 120 });
    expect(updated.usage.tpm_limit).toBeNull();
  });

  it("gives an end user created from defaults limits of its own: it becomes registered and keeps its spend", async () => {
    const id = unique("implicit");
    const key = await createKey({ end_user_defaults: { rpm_limit: 100 } });
    expect((await chat(key.key, { user: id })).status).toBe(200);
    const before = await customerSettled(id);
    const updated = await ok(await updateCustomer({ user_id: id, rpm_limit: 2 }));
    expect(updated).toMatchObject({ registered: true, spend: before.spend, litellm_budget_table: { rpm_limit: 2 } });
    // The key's defaults no longer apply to it: its own limit holds on the next calls.
    expect((await chat(key.key, { user: id })).status).toBe(200);
    await expectError(await chat(key.key, { user: id }), 429, { code: "rpm_limit_exceeded" });
    expect((await ok(await customerInfo(id))).litellm_budget_table.rpm_limit).toBe(2);
  });

  it("changes an alias of an end user created from defaults without registering it", async () => {
    const id = unique("implicit");
    const key = await createKey({ end_user_defaults: { rpm_limit: 100 } });
    expect((await chat(key.key, { user: id })).status).toBe(200);
    await customerSettled(id);
    expect(await ok(await updateCustomer({ user_id: id, alias: "seen" }))).toMatchObject({ registered: false, alias: "seen" });
    expect((await chat(key.key, { user: id })).status).toBe(200);
    expect(await customerSettled(id)).toMatchObject({ registered: false, alias: "seen", litellm_budget_table: { rpm_limit: 100 } });
  });
});

describe("spend", () => {
  it("a chat call naming the customer moves its spend by what the key paid, and /spend/logs?end_user_id= lists it", async () => {
    const id = unique("spender");
    await ok(await newCustomer({ user_id: id }));
    const key = await createKey();
    const response = await chat(key.key, { user: id });
    expect(response.status).toBe(200);
    await json(response);
    const keySpend = (await settled(key.key)).spend as number;
    expect(keySpend).toBeGreaterThan(0);
    const info = await customerSettled(id);
    expect(info.spend).toBeCloseTo(keySpend, 12);
    expect(info.usage.requests).toBe(1);
    expect(info.usage.tokens).toBeGreaterThan(0);
    const logs = await ok<Array<Record<string, any>>>(await call(`/spend/logs?end_user_id=${encodeURIComponent(id)}`));
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ end_user: id, api_key: null, model: "gpt-4o-mini", outcome: "settled" });
    expect(logs[0]!.spend).toBeCloseTo(keySpend, 12);
    expect(typeof logs[0]!.request_id).toBe("string");
  });

  it("adds up across keys, the x-edgequota-end-user header and Anthropic's metadata.user_id", async () => {
    const id = unique("spender");
    await ok(await newCustomer({ user_id: id }));
    const [first, second] = [await createKey(), await createKey()];
    expect((await chat(first.key, {}, { "x-edgequota-end-user": id })).status).toBe(200);
    const anthropic = await call("/v1/messages", {
      token: second.key,
      body: { model: "claude-sonnet-4-20250514", max_tokens: 5, messages: MESSAGES, metadata: { user_id: id } },
      headers: { "x-mock-completion-tokens": "5" },
    });
    expect(anthropic.status).toBe(200);
    const spent = ((await settled(first.key)).spend as number) + ((await settled(second.key)).spend as number);
    const info = await customerSettled(id);
    expect(info.usage.requests).toBe(2);
    expect(info.spend).toBeCloseTo(spent, 12);
    const logs = await ok<Array<Record<string, any>>>(await call(`/spend/logs?end_user_id=${encodeURIComponent(id)}`));
    expect(logs.map((line) => line.end_user)).toEqual([id, id]);
  });
});

describe("POST /customer/block and /customer/unblock", () => {
  it("blocks the end user's next call through any key (403 end_user_blocked) and unblocks it", async () => {
    const id = unique("blockee");
    await ok(await newCustomer({ user_id: id }));
    const key = await createKey();
    expect((await chat(key.key, { user: id })).status).toBe(200);
    const blocked = await ok(await blockCustomers([id]));
    expect(Object.keys(blocked)).toEqual(["blocked_users"]);
    expect(blocked.blocked_users).toHaveLength(1);
    expect(blocked.blocked_users[0]).toMatchObject({ user_id: id, blocked: true });
    await expectError(await chat(key.key, { user: id }), 403, { code: "end_user_blocked", type: "permission_error" });
    await expectError(await chat((await createKey()).key, { user: id }), 403, { code: "end_user_blocked" });
    // The key still serves everyone else, and what was refused cost it nothing.
    expect((await chat(key.key, { user: unique("other") })).status).toBe(200);
    expect((await settled(key.key)).usage.requests).toBe(2);
    expect((await ok(await customerInfo(id))).blocked).toBe(true);
    const unblocked = await ok(await unblockCustomers([id]));
    expect(Object.keys(unblocked)).toEqual(["unblocked_users"]);
    expect(unblocked.unblocked_users[0]).toMatchObject({ user_id: id, blocked: false });
    expect((await chat(key.key, { user: id })).status).toBe(200);
    expect((await ok(await customerInfo(id))).blocked).toBe(false);
  });

  it("blocks several at once (duplicates once), keeps their other settings, and is idempotent", async () => {
    const [a, b] = [unique("a"), unique("b")];
    await ok(await newCustomer({ user_id: a, rpm_limit: 9, alias: "A" }));
    await ok(await newCustomer({ user_id: b, max_budget: 2 }));
    const blocked = await ok(await blockCustomers([a, b, a]));
    expect(blocked.blocked_users.map((user: Record<string, any>) => user.user_id)).toEqual([a, b]);
    expect((await ok(await blockCustomers([a]))).blocked_users[0].blocked).toBe(true);
    await ok(await unblockCustomers([a, b]));
    expect(await ok(await customerInfo(a))).toMatchObject({ blocked: false, alias: "A", litellm_budget_table: { rpm_limit: 9 } });
    expect(await ok(await customerInfo(b))).toMatchObject({ blocked: false, litellm_budget_table: { max_budget: 2 } });
  });

  it("blocks an end user created from defaults, which stays blocked through the key's defaults", async () => {
    const id = unique("implicit");
    const key = await createKey({ end_user_defaults: { max_budget: 1 } });
    expect((await chat(key.key, { user: id })).status).toBe(200);
    await customerSettled(id);
    expect((await ok(await blockCustomers([id]))).blocked_users[0]).toMatchObject({ registered: false, blocked: true });
    await expectError(await chat(key.key, { user: id }), 403, { code: "end_user_blocked" });
    await ok(await unblockCustomers([id]));
    expect((await chat(key.key, { user: id })).status).toBe(200);
  });

  it("a customer registered blocked is refused until unblocked", async () => {
    const id = unique("born-blocked");
    await ok(await newCustomer({ user_id: id, blocked: true }));
    const key = await createKey();
    await expectError(await chat(key.key, { user: id }), 403, { code: "end_user_blocked" });
    await ok(await unblockCustomers([id]));
    expect((await chat(key.key, { user: id })).status).toBe(200);
  });
});

describe("POST /customer/delete", () => {
  it("deletes: info answers 404 afterwards and the id can be registered afresh", async () => {
    const [a, b] = [unique("gone"), unique("gone")];
    await ok(await newCustomer({ user_id: a, max_budget: 5 }));
    await ok(await newCustomer({ user_id: b }));
    const key = await createKey();
    expect((await chat(key.key, { user: a })).status).toBe(200);
    await customerSettled(a);
    const deleted = await ok(await deleteCustomers([a, b, a]));
    expect(deleted).toEqual({ deleted_customers: 2, message: expect.stringContaining(a), deleted_user_ids: [a, b] });
    await expectError(await customerInfo(a), 404, { code: "end_user_not_found", type: "not_found_error", param: "end_user_id" });
    await expectError(await customerInfo(b), 404, { code: "end_user_not_found" });
    await expectError(await call(`/spend/logs?end_user_id=${a}`), 404, { code: "end_user_not_found" });
    // Without registration or defaults, the deleted id has no limits: calls naming it pass through the key alone.
    expect((await chat(key.key, { user: a })).status).toBe(200);
    await expectError(await customerInfo(a), 404, { code: "end_user_not_found" });
    const again = await ok(await newCustomer({ user_id: a }));
    expect(again).toMatchObject({ registered: true, spend: 0, litellm_budget_table: { max_budget: null } });
  });
});
