import { call, json } from "../../helpers/gateway";

/** The /customer routes as the tests call them (the master key unless a token is given). */
const auth = (token?: string | null) => (token === undefined ? {} : { token });

export const newCustomer = (body: Record<string, unknown>, token?: string | null) => call("/customer/new", { body, ...auth(token) });
export const customerInfo = (id: string, token?: string | null) => call(`/customer/info?end_user_id=${encodeURIComponent(id)}`, auth(token));
export const updateCustomer = (body: Record<string, unknown>, token?: string | null) => call("/customer/update", { body, ...auth(token) });
export const deleteCustomers = (ids: string[], token?: string | null) => call("/customer/delete", { body: { user_ids: ids }, ...auth(token) });
export const blockCustomers = (ids: string[], token?: string | null) => call("/customer/block", { body: { user_ids: ids }, ...auth(token) });
export const unblockCustomers = (ids: string[], token?: string | null) => call("/customer/unblock", { body: { user_ids: ids }, ...auth(token) });
export const listCustomers = (query = "", token?: string | null) => call(`/customer/list${query}`, auth(token));

/** /customer/info once the end user has no call in flight (settlement runs after the response is sent). */
export async function customerSettled(id: string, timeoutMs = 5000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await customerInfo(id);
    if (response.status !== 200) throw new Error(`customer/info failed: ${response.status} ${await response.text()}`);
    const info = await json(response);
    if (info.usage.in_flight === 0) return info;
    if (Date.now() > deadline) throw new Error(`end user ${id} still has ${info.usage.in_flight} in flight after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
