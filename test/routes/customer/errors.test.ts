import { describe, expect, it } from "vitest";
import { call } from "../../helpers/gateway";
import { expectError, ok, unique } from "../../helpers/key-routes";
import { blockCustomers, customerInfo, deleteCustomers, newCustomer, unblockCustomers, updateCustomer } from "./customers";

const BAD_IDS: Array<[string, unknown]> = [
  ["a space", "has space"],
  ["a quote", "o'brien"],
  ["non-ASCII", "josé"],
  ["an empty string", ""],
  ["129 characters", "a".repeat(129)],
  ["a number", 42],
  ["null", null],
];

describe("invalid end-user ids", () => {
  it.each(BAD_IDS)("/customer/new refuses %s (400 invalid_request, param user_id)", async (_name, userId) => {
    await expectError(await newCustomer({ user_id: userId }), 400, { code: "invalid_request", type: "invalid_request_error", param: "user_id" });
  });

  it.each(BAD_IDS)("/customer/update refuses %s", async (_name, userId) => {
    await expectError(await updateCustomer({ user_id: userId, rpm_limit: 1 }), 400, { code: "invalid_request", param: "user_id" });
  });

  it.each(BAD_IDS.filter(([, id]) => typeof id === "string"))("/customer/info refuses %s as end_user_id", async (_name, userId) => {
    await expectError(await customerInfo(userId as string), 400, { code: "invalid_request", param: "end_user_id" });
  });

  it.each(BAD_IDS)("/customer/delete, /block and /unblock refuse %s in user_ids", async (_name, userId) => {
    for (const send of [deleteCustomers, blockCustomers, unblockCustomers]) {
      await expectError(await send([userId as string]), 400, { code: "invalid_request", param: "user_ids.0" });
    }
  });

  it("accepts the longest id and every allowed character", async () => {
    const longest = `${crypto.randomUUID()}${"x".repeat(92)}`;
    expect(longest).toHaveLength(128);
    await ok(await newCustomer({ user_id: longest }));
    const email = `${crypto.randomUUID()}+tag@example.com:a=b|c/d_e-f.g`;
    expect((await ok(await newCustomer({ user_id: email }))).user_id).toBe(email);
    expect((await ok(await customerInfo(email))).user_id).toBe(email);
  });

  it("requires user_id", async () => {
    await expectError(await newCustomer({ alias: "nobody" }), 400, { code: "invalid_request", param: "user_id" });
    await expectError(await updateCustomer({ rpm_limit: 1 }), 400, { code: "invalid_request", param: "user_id" });
    await expectError(await call("/customer/info"), 400, { code: "invalid_request", param: "end_user_id" });
  });

  it("requires 1 to 100 user_ids", async () => {
    for (const path of ["/customer/delete", "/customer/block", "/customer/unblock"]) {
      await expectError(await call(path, { body: { user_ids: [] } }), 400, { code: "invalid_request", param: "user_ids" });
      await expectError(await call(path, { body: {} }), 400, { code: "invalid_request", param: "user_ids" });
      const many = Array.from({ length: 101 }, (_, index) => `u${index}`);
      await expectError(await call(path, { body: { user_ids: many } }), 400, { code: "invalid_request", param: "user_ids" });
    }
  });
});

describe("duplicates", () => {
  it("a second /customer/new for a registered id is 400 end_user_exists and changes nothing", async () => {
    const id = unique("dup");
    await ok(await newCustomer({ user_id: id, rpm_limit: 5, alias: "first" }));
    await expectError(await newCustomer({ user_id: id, rpm_limit: 99 }), 400, { code: "end_user_exists", type: "invalid_request_error", param: "user_id" });
    expect(await ok(await customerInfo(id))).toMatchObject({ alias: "first", litellm_budget_table: { rpm_limit: 5 } });
  });
});

describe("unknown end users", () => {
  it("/customer/info answers 404 end_user_not_found (param end_user_id)", async () => {
    const error = await expectError(await customerInfo(unique("ghost")), 404, { code: "end_user_not_found", type: "not_found_error", param: "end_user_id" });
    expect(error.message).toContain("ghost");
  });

  it("/customer/update answers 404 and creates nothing", async () => {
    const id = unique("ghost");
    await expectError(await updateCustomer({ user_id: id, rpm_limit: 1 }), 404, { code: "end_user_not_found", param: "user_id" });
    await expectError(await customerInfo(id), 404, { code: "end_user_not_found" });
  });

  it.each([
    ["/customer/delete", deleteCustomers],
    ["/customer/block", blockCustomers],
    ["/customer/unblock", unblockCustomers],
  ] as const)("%s answers 404 naming every unknown id and changes none of the known ones", async (_path, send) => {
    const known = unique("known");
    await ok(await newCustomer({ user_id: known, blocked: false, alias: "kept" }));
    const [ghost1, ghost2] = [unique("ghost"), unique("ghost")];
    const error = await expectError(await send([known, ghost1, ghost2]), 404, { code: "end_user_not_found", param: "user_ids" });
    expect(error.message).toContain(ghost1);
    expect(error.message).toContain(ghost2);
    expect(error.message).not.toContain(known);
    expect(await ok(await customerInfo(known))).toMatchObject({ blocked: false, alias: "kept" });
    await expectError(await customerInfo(ghost1), 404, { code: "end_user_not_found" });
  });
});

describe("fields", () => {
  it.each([
    ["an unknown field", { team_id: "x" }, null],
    ["LiteLLM's budget_id (not supported)", { budget_id: "free_tier" }, null],
    ["a negative max_budget", { max_budget: -1 }, "max_budget"],
    ["a negative soft_budget", { soft_budget: -0.01 }, "soft_budget"],
    ["a negative tpm_limit", { tpm_limit: -1 }, "tpm_limit"],
    ["a fractional rpm_limit", { rpm_limit: 1.5 }, "rpm_limit"],
    ["a negative max_parallel_requests", { max_parallel_requests: -1 }, "max_parallel_requests"],
    ["an unreadable budget_duration", { budget_duration: "soon" }, "budget_duration"],
    ["an unknown reservation_policy", { reservation_policy: "greedy" }, "reservation_policy"],
    ["a string blocked", { blocked: "yes" }, "blocked"],
    ["metadata that is not an object", { metadata: [1] }, "metadata"],
    ["a max_budget as a string", { max_budget: "10" }, "max_budget"],
  ])("/customer/new and /customer/update refuse %s with 400", async (_name, fields, param) => {
    const id = unique("fields");
    await expectError(await newCustomer({ user_id: id, ...fields }), 400, { code: "invalid_request", param });
    await expectError(await customerInfo(id), 404, { code: "end_user_not_found" });
    await ok(await newCustomer({ user_id: id, rpm_limit: 3 }));
    await expectError(await updateCustomer({ user_id: id, ...fields }), 400, { code: "invalid_request", param });
    expect((await ok(await customerInfo(id))).litellm_budget_table.rpm_limit).toBe(3);
  });

  it("refuses unknown fields in batch bodies and info queries", async () => {
    const id = unique("fields");
    await ok(await newCustomer({ user_id: id }));
    for (const path of ["/customer/delete", "/customer/block", "/customer/unblock"]) {
      await expectError(await call(path, { body: { user_ids: [id], force: true } }), 400, { code: "invalid_request" });
    }
    await expectError(await call(`/customer/info?end_user_id=${id}&verbose=1`), 400, { code: "invalid_request" });
    expect(await ok(await customerInfo(id))).toMatchObject({ blocked: false });
  });
});

describe("malformed requests", () => {
  it("answers invalid JSON and a non-object body with 400", async () => {
    await expectError(await call("/customer/new", { rawBody: "{", headers: { "content-type": "application/json" } }), 400, { code: "invalid_json" });
    await expectError(await call("/customer/new", { body: ["a"] }), 400, { code: "invalid_request" });
    await expectError(await call("/customer/new", { rawBody: "x", headers: { "content-type": "text/plain" } }), 415, { code: "unsupported_media_type" });
  });

  it("answers a wrong method with 405 and Allow", async () => {
    const response = await call("/customer/new", { method: "GET" });
    expect(response.headers.get("allow")).toBe("POST");
    await expectError(response, 405, { code: "method_not_allowed" });
    await expectError(await call("/customer/info", { method: "POST", body: {} }), 405, { code: "method_not_allowed" });
  });
});
