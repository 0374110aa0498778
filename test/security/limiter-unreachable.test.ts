import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createKey, ensureTeam, json, keyInfo, settled } from "../helpers/gateway";
import { callWith } from "../helpers/with-env";

/**
 * A Durable Object namespace whose objects can be addressed but never reached: every RPC rejects as a dropped
 * connection does. `then` stays undefined so a stub is never mistaken for a promise.
 */
function unreachable(namespace: { idFromName(name: string): DurableObjectId }): unknown {
  const calls: string[] = [];
  const stub = new Proxy(
    {},
    {
      get: (_target, property) => {
        if (property === "then") return undefined;
        return async () => {
          calls.push(String(property));
          throw new Error("network connection lost");
        };
      },
    },
  );
  return Object.assign({ idFromName: namespace.idFromName.bind(namespace), get: () => stub }, { calls });
}

const CHAT = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }], max_tokens: 5 });

function chatWith(vars: Record<string, unknown>, key: string): Promise<Response> {
  return callWith(vars as Record<string, string>, "/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: CHAT,
  });
}

async function expectLimiterUnavailable(response: Response, owner: "key" | "team"): Promise<void> {
  const text = await response.text();
  expect(response.status, text).toBe(503);
  expect(response.headers.get("content-type") ?? "").toContain("application/json");
  expect(Number(response.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  const body = JSON.parse(text) as { error: Record<string, unknown> };
  expect(Object.keys(body)).toEqual(["error"]);
  expect(body.error).toEqual({ message: expect.stringContaining(owner), type: "server_error", param: null, code: "limiter_unavailable" });
}

describe("the key's own limiter object unreachable", () => {
  it("fails a chat call closed with 503 limiter_unavailable and retry-after", async () => {
    const key = await createKey();
    await expectLimiterUnavailable(await chatWith({ KEYS: unreachable(env.KEYS) }, key.key), "key");
  });

  it("still fails closed with LIMITER_FAILURE_MODE=open: the key object authenticates and is never skipped", async () => {
    const key = await createKey();
    const keys = unreachable(env.KEYS) as { calls: string[] };
    await expectLimiterUnavailable(await chatWith({ KEYS: keys, LIMITER_FAILURE_MODE: "open" }, key.key), "key");
    expect(keys.calls).toContain("admit");
    // Nothing reached the real object: the key is exactly as it was.
    const info = await keyInfo(key.key);
    expect(info.usage).toMatchObject({ requests: 0, tokens: 0, in_flight: 0, reserved_tokens: 0 });
  });

  it("refuses an unknown key the same way with fail-open: no unauthenticated call ever goes through", async () => {
    const response = await chatWith({ KEYS: unreachable(env.KEYS), LIMITER_FAILURE_MODE: "open" }, `sk-never-issued-${crypto.randomUUID()}`);
    await expectLimiterUnavailable(response, "key");
  });

  it("fails /v1/models closed with 503 limiter_unavailable too, not a 500", async () => {
    const key = await createKey();
    const response = await callWith({ KEYS: unreachable(env.KEYS) as never, LIMITER_FAILURE_MODE: "open" }, "/v1/models", {
      headers: { authorization: `Bearer ${key.key}` },
    });
    await expectLimiterUnavailable(response, "key");
  });
});

describe("only the team's limiter object unreachable", () => {
  async function teamKey(): Promise<{ key: string; token: string; team: string }> {
    const team = `unreachable-${crypto.randomUUID()}`;
    await ensureTeam(team, { rpm_limit: 100 });
    const key = await createKey({ team_id: team });
    return { key: key.key, token: key.token, team };
  }

  it("fails closed by default: 503, and the key's reservation is withdrawn", async () => {
    const { key } = await teamKey();
    await expectLimiterUnavailable(await chatWith({ TEAMS: unreachable(env.TEAMS) }, key), "team");
    // The withdrawal happens before the 503 is sent: no waiting, nothing left reserved right away.
    const info = await keyInfo(key);
    expect(info.usage).toMatchObject({ requests: 0, tokens: 0, in_flight: 0, reserved_tokens: 0, reserved_spend: 0 });
    expect(info.spend).toBe(0);
  });

  it("fails closed with LIMITER_FAILURE_MODE=closed spelled out", async () => {
    const { key } = await teamKey();
    await expectLimiterUnavailable(await chatWith({ TEAMS: unreachable(env.TEAMS), LIMITER_FAILURE_MODE: "closed" }, key), "team");
    expect((await keyInfo(key)).usage).toMatchObject({ requests: 0, in_flight: 0, reserved_tokens: 0 });
  });

  it("lets the call through with LIMITER_FAILURE_MODE=open, and the key is still charged exactly once", async () => {
    const { key, team } = await teamKey();
    const response = await chatWith({ TEAMS: unreachable(env.TEAMS), LIMITER_FAILURE_MODE: "open" }, key);
    expect(response.status, await response.clone().text()).toBe(200);
    const answer = await json(response);
    const info = await settled(key);
    expect(info.usage.requests).toBe(1);
    expect(info.usage.tokens).toBe(answer.usage.total_tokens);
    expect(info.usage).toMatchObject({ in_flight: 0, reserved_tokens: 0 });
    expect(info.spend).toBeGreaterThan(0);
    // The real team object was never asked, so it counted nothing.
    const teamInfo = await json(await callWith({}, `/team/info?team_id=${team}`, { headers: { authorization: "Bearer sk-test-master" } }));
    expect(teamInfo.team_info.usage.requests).toBe(0);
  });
});
