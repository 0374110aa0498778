import { describe, expect, it } from "vitest";
import { call, chat, createKey } from "../../helpers/gateway";
import { expectError, ok, unique } from "../../helpers/key-routes";

describe("POST /key/delete with key_aliases (LiteLLM)", () => {
  it("deletes every key carrying the alias and only those", async () => {
    const alias = unique("alias");
    const [a, b, other] = await Promise.all([createKey({ key_alias: alias }), createKey({ key_alias: alias }), createKey({ key_alias: unique("alias") })]);
    const body = await ok(await call("/key/delete", { body: { key_aliases: [alias] } }));
    expect(new Set(body.deleted_keys)).toEqual(new Set([a.token, b.token]));
    expect((await chat(a.key)).status).toBe(401);
    expect((await chat(b.key)).status).toBe(401);
    expect((await chat(other.key)).status).toBe(200);
  });

  it("deletes nothing and answers 404 when an alias matches no key", async () => {
    const kept = await createKey({ key_alias: unique("alias") });
    await expectError(await call("/key/delete", { body: { keys: [kept.key], key_aliases: [unique("missing")] } }), 404, { code: "key_not_found" });
    expect((await chat(kept.key)).status).toBe(200);
  });

  it("refuses a body with neither keys nor key_aliases", async () => {
    await expectError(await call("/key/delete", { body: { keys: [], key_aliases: [] } }), 400, { param: "keys" });
    await expectError(await call("/key/delete", { body: {} }), 400, { param: "keys" });
  });
});
