import { describe, expect, it } from "vitest";
import { chat, createKey, settled } from "../../helpers/gateway";
import { expectError, ok, unique } from "../../helpers/key-routes";
import { customerSettled, deleteCustomers, listCustomers, newCustomer } from "./customers";

// Its own file: storage is per test file, so the directory holds exactly the customers made here.

type Customer = Record<string, any>;

async function page(query: string): Promise<{ customers: Customer[]; total: number; pages: number }> {
  const response = await listCustomers(query);
  const total = Number(response.headers.get("x-total-count"));
  const pages = Number(response.headers.get("x-total-pages"));
  return { customers: await ok<Customer[]>(response), total, pages };
}

/** End users created from defaults reach the directory off the request path: wait for them. */
async function until(total: number): Promise<void> {
  for (let tries = 0; tries < 500; tries++) {
    if ((await page("?size=1")).total === total) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`the directory never listed ${total} end users`);
}

describe("GET /customer/list", () => {
  it("answers an empty array before any customer exists", async () => {
    const { customers, total, pages } = await page("");
    expect(customers).toEqual([]);
    expect(total).toBe(0);
    expect(pages).toBe(0);
  });

  it("pages registered customers and those created from defaults, oldest first, totals in headers", async () => {
    // Prefixes sort like creation order, so ids created in the same millisecond keep it too.
    const registered = [unique("c0"), unique("c1"), unique("c2"), unique("c3")];
    for (const [index, id] of registered.entries()) await ok(await newCustomer({ user_id: id, rpm_limit: 10 + index }));
    const implicit = unique("c4");
    const key = await createKey({ end_user_defaults: { max_budget: 2 } });
    expect((await chat(key.key, { user: implicit })).status).toBe(200);
    await settled(key.key);
    await customerSettled(implicit);
    await until(5);
    const all = [...registered, implicit];

    const first = await page("?page=1&size=2");
    expect(first.total).toBe(5);
    expect(first.pages).toBe(3);
    expect(first.customers.map((customer) => customer.user_id)).toEqual(all.slice(0, 2));
    expect(first.customers[0]).toMatchObject({ registered: true, spend: 0, litellm_budget_table: { rpm_limit: 10 }, usage: { requests: 0 } });
    expect((await page("?page=2&size=2")).customers.map((customer) => customer.user_id)).toEqual(all.slice(2, 4));
    const last = await page("?page=3&size=2");
    expect(last.customers.map((customer) => customer.user_id)).toEqual([implicit]);
    expect(last.customers[0]).toMatchObject({ registered: false, litellm_budget_table: { max_budget: 2 }, usage: { requests: 1 } });
    expect(last.customers[0]!.spend).toBeGreaterThan(0);
    expect((await page("?page=4&size=2")).customers).toEqual([]);
    // The defaults: page 1, 25 a page.
    expect((await page("")).customers.map((customer) => customer.user_id)).toEqual(all);

    await ok(await deleteCustomers([registered[1]!]));
    const after = await page("?size=25");
    expect(after.total).toBe(4);
    expect(after.customers.map((customer) => customer.user_id)).toEqual(all.filter((id) => id !== registered[1]));
  });

  it.each([
    ["page=0", "page"],
    ["page=abc", "page"],
    ["size=0", "size"],
    ["size=101", "size"],
    ["size=1.5", "size"],
    ["team_id=x", null],
  ])("refuses ?%s with 400", async (query, param) => {
    await expectError(await listCustomers(`?${query}`), 400, { code: "invalid_request", param });
  });
});
