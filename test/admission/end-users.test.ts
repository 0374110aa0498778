import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ESTIMATE_COST, MAX_TOKENS, MESSAGES } from "../helpers/default-request";
import { call, chat, createKey, ensureTeam, json, keyInfo, settled } from "../helpers/gateway";
import { unique } from "../helpers/key-routes";
import { endUserStub, teamStub } from "../helpers/objects";
import { post, spendLogs } from "../helpers/proxy";

// End users are the 4th owner: one object per end-user id, admitted after the key and its team, before the
// deployment; their limits hold in total whichever keys and front doors serve them.

const view = (id: string) => runInDurableObject(endUserStub(id), (instance) => instance.view());
const usd = (nanos: number) => nanos / 1e9;

/** Registers an end user with limits through the object itself (the /customer routes are tested apart). */
async function register(id: string, limits: Record<string, unknown>): Promise<void> {
  const now = new Date().toISOString();
  const record = {
    alias: null, blocked: false, metadata: {}, tpm_limit: null, rpm_limit: null, max_parallel_requests: null, max_budget: null,
    soft_budget: null, budget_duration: null, reservation_policy: "adaptive" as const, ...limits,
    user_id: id, registered: true, created_at: now, updated_at: now,
  };
  expect(await runInDurableObject(endUserStub(id), (instance) => instance.register(record))).toBe(true);
}

/** Waits until the end user's object has nothing in flight. */
async function endUserSettled(id: string): Promise<NonNullable<Awaited<ReturnType<typeof view>>>> {
  for (let tries = 0; tries < 500; tries++) {
    const seen = await view(id);
    if (seen && seen.snapshot.inFlight === 0) return seen;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`end user ${id} still has calls in flight`);
}

describe("end users behind one key", () => {
  it("one end user that exhausts its budget is refused (scope end_user) while another goes on", async () => {
    const [heavy, light] = [unique("heavy"), unique("light")];
    await register(heavy, { max_budget: usd(ESTIMATE_COST * 2.5) });
    await register(light, { max_budget: 1 });
    const key = await createKey({ max_budget: 1 });
    let refusal: Record<string, any> | null = null;
    let admitted = 0;
    for (let i = 0; i < 4 && refusal === null; i++) {
      const response = await chat(key.key, { user: heavy });
      if (response.status === 200) {
        admitted++;
        await json(response);
        await settled(key.key);
      } else {
        expect(response.status).toBe(429);
        refusal = await json(response);
      }
    }
    expect(admitted).toBeGreaterThanOrEqual(2);
    expect(refusal!.error.type).toBe("budget_exceeded");
    expect(refusal!.error.limit.scope).toBe("end_user");
    expect(refusal!.error.message).toContain("end user");
    expect((await chat(key.key, { user: light })).status).toBe(200);
    const heavyView = await endUserSettled(heavy);
    expect(heavyView.snapshot.budget.spend).toBeLessThanOrEqual(heavyView.snapshot.budget.max!);
    // The key paid for every admitted call of both end users, nothing for the refused one.
    const info = await settled(key.key);
    expect(info.usage.requests).toBe(admitted + 1);
  });

  it("the x-edgequota-end-user header wins over the body's user, and Anthropic's metadata.user_id names one too", async () => {
    const [fromHeader, fromBody, fromAnthropic] = [unique("hdr"), unique("body"), unique("ant")];
    const key = await createKey({ end_user_defaults: { max_budget: 1 } });
    expect((await chat(key.key, { user: fromBody }, { "x-edgequota-end-user": fromHeader })).status).toBe(200);
    await settled(key.key);
    expect((await view(fromHeader))?.snapshot.window.requests).toBe(1);
    expect(await view(fromBody)).toBeNull();
    const anthropic = await call("/v1/messages", {
      token: key.key,
      body: { model: "claude-sonnet-4-20250514", max_tokens: 5, messages: MESSAGES, metadata: { user_id: fromAnthropic } },
      headers: { "x-mock-completion-tokens": "5" },
    });
    expect(anthropic.status).toBe(200);
    await settled(key.key);
    expect((await view(fromAnthropic))?.snapshot.window.requests).toBe(1);
    const lines = await spendLogs(key.key);
    expect(lines.map((line) => (line as any).end_user).sort()).toEqual([fromAnthropic, fromHeader].sort());
  });

  it("Claude Code's metadata.user_id formats name the account (or device), not the session", async () => {
    const account = crypto.randomUUID();
    const device = "d".repeat(64);
    const hash = "a".repeat(64);
    const key = await createKey({ end_user_defaults: { max_budget: 1 } });
    const send = (userId: string) =>
      call("/v1/messages", {
        token: key.key,
        body: { model: "claude-sonnet-4-20250514", max_tokens: 5, messages: MESSAGES, metadata: { user_id: userId } },
        headers: { "x-mock-completion-tokens": "5" },
      });
    for (const session of [crypto.randomUUID(), crypto.randomUUID()]) {
      expect((await send(JSON.stringify({ device_id: device, account_uuid: account, session_id: session }))).status).toBe(200);
      expect((await send(`user_${hash}_account_${account}_session_${session}`)).status).toBe(200);
    }
    expect((await send(`user_${hash}_account__session_${crypto.randomUUID()}`)).status).toBe(200);
    expect((await send(JSON.stringify({ device_id: device, session_id: crypto.randomUUID() }))).status).toBe(200);
    await settled(key.key);
    expect((await view(`account_${account}`))?.snapshot.window.requests).toBe(4);
    expect((await view(`user_${hash}`))?.snapshot.window.requests).toBe(1);
    expect((await view(`device_${device}`))?.snapshot.window.requests).toBe(1);
  });

  it("a malformed end-user id is a 400 before anything is reserved", async () => {
    const key = await createKey({ rpm_limit: 10 });
    for (const [body, headers] of [
      [{ user: "has space" }, {}],
      [{ user: "x".repeat(129) }, {}],
      [{ user: 42 }, {}],
      [{}, { "x-edgequota-end-user": "semi;colon" }],
    ] as const) {
      const response = await chat(key.key, body, headers);
      expect(response.status).toBe(400);
      const error = (await json(response)).error;
      expect(error.code).toBe("invalid_end_user");
    }
    expect((await keyInfo(key.key)).usage.requests).toBe(0);
  });

  it("an end user neither registered nor covered by defaults gets no object and no limits", async () => {
    const id = unique("nobody");
    const key = await createKey();
    expect((await chat(key.key, { user: id })).status).toBe(200);
    await settled(key.key);
    expect(await view(id)).toBeNull();
  });
});

describe("defaults for unregistered end users", () => {
  it("a key's end_user_defaults cap every end user seen through it, each apart, with no management call", async () => {
    const key = await createKey({ end_user_defaults: { rpm_limit: 2 } });
    const [a, b] = [unique("a"), unique("b")];
    for (const id of [a, a, b, b]) expect((await chat(key.key, { user: id })).status).toBe(200);
    const third = await chat(key.key, { user: a });
    expect(third.status).toBe(429);
    expect((await json(third)).error.limit).toMatchObject({ scope: "end_user", name: "rpm_limit", limit: 2 });
    const created = await view(a);
    expect(created?.record).toMatchObject({ user_id: a, registered: false, rpm_limit: 2 });
    await settled(key.key);
  });

  it("END_USER_DEFAULTS applies when the key sets none, and a key's own defaults win over it", async () => {
    const vars = { END_USER_DEFAULTS: JSON.stringify({ rpm_limit: 1 }) };
    const plain = await createKey();
    const own = await createKey({ end_user_defaults: { rpm_limit: 3 } });
    const [first, second] = [unique("gw"), unique("own")];
    const body = (user: string) => ({ model: "gpt-4o-mini", messages: MESSAGES, max_tokens: MAX_TOKENS, user });
    expect((await post(vars, "/v1/chat/completions", plain.key, body(first))).status).toBe(200);
    expect((await post(vars, "/v1/chat/completions", plain.key, body(first))).status).toBe(429);
    for (let i = 0; i < 3; i++) expect((await post(vars, "/v1/chat/completions", own.key, body(second))).status).toBe(200);
    expect((await post(vars, "/v1/chat/completions", own.key, body(second))).status).toBe(429);
    await Promise.all([settled(plain.key), settled(own.key)]);
  });

  it("a registered end user's own limits win over any defaults", async () => {
    const id = unique("reg");
    await register(id, { rpm_limit: 5 });
    const key = await createKey({ end_user_defaults: { rpm_limit: 1 } });
    for (let i = 0; i < 3; i++) expect((await chat(key.key, { user: id })).status).toBe(200);
    expect((await view(id))?.record).toMatchObject({ registered: true, rpm_limit: 5 });
    await settled(key.key);
  });
});

describe("an end user's budget through several front doors", () => {
  it("is never exceeded by simultaneous calls through several keys", async () => {
    const id = unique("shared");
    const fits = 7;
    await register(id, { max_budget: usd(ESTIMATE_COST * fits + ESTIMATE_COST / 2) });
    const keys = await Promise.all(Array.from({ length: 4 }, () => createKey()));
    // 40 calls at once, spread over four applications' keys (each front door asks the same end-user object).
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => chat(keys[i % keys.length]!.key, { user: id })));
    const statuses = answers.map((response) => response.status);
    await Promise.all(answers.map((response) => response.text()));
    expect(statuses.filter((status) => status === 200)).toHaveLength(fits);
    expect(statuses.filter((status) => status === 429)).toHaveLength(40 - fits);
    const seen = await endUserSettled(id);
    expect(seen.snapshot.budget.spend).toBeLessThanOrEqual(seen.snapshot.budget.max!);
    expect(seen.snapshot.budget.reserved).toBe(0);
    await Promise.all(keys.map((key) => settled(key.key)));
  });
});

describe("withdraw on refusal at every scope", () => {
  it("an end-user refusal withdraws what the key and the team reserved", async () => {
    const teamId = unique("team");
    await ensureTeam(teamId, { rpm_limit: 100 });
    const id = unique("blocked");
    await register(id, { blocked: true });
    const key = await createKey({ team_id: teamId, rpm_limit: 100 });
    const refused = await chat(key.key, { user: id });
    expect(refused.status).toBe(403);
    expect((await json(refused)).error.code).toBe("end_user_blocked");
    const info = await keyInfo(key.key);
    expect(info.usage).toMatchObject({ requests: 0, tokens: 0, in_flight: 0 });
    const team = await runInDurableObject(teamStub(teamId), (instance) => instance.view());
    expect(team?.snapshot.window).toMatchObject({ requests: 0, tokens: 0 });
    expect(team?.snapshot.inFlight).toBe(0);
  });

  it("a deployment refusal withdraws what the end user reserved", async () => {
    const id = unique("deployed");
    await register(id, { rpm_limit: 100 });
    const key = await createKey();
    // claude-direct's only deployment speaks Anthropic's API, so an OpenAI-dialect call finds no deployment.
    const refused = await chat(key.key, { model: "claude-direct", user: id });
    expect(refused.status).toBe(503);
    const seen = await view(id);
    expect(seen?.snapshot.window).toMatchObject({ requests: 0, tokens: 0 });
    expect(seen?.snapshot.inFlight).toBe(0);
    expect((await keyInfo(key.key)).usage.requests).toBe(0);
  });

  it("a key refusal never reaches the end user", async () => {
    const id = unique("never");
    await register(id, { rpm_limit: 100 });
    const key = await createKey({ rpm_limit: 0 });
    expect((await chat(key.key, { user: id })).status).toBe(429);
    expect((await view(id))?.snapshot.window.requests).toBe(0);
  });
});
