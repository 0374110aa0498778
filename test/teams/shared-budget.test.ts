import { describe, expect, it } from "vitest";
import { chatPrompt } from "../helpers/default-request";
import { call, chat, createKey, ensureTeam, json, settled } from "../helpers/gateway";
import { nanos } from "../helpers/proxy";

const MESSAGES = [{ role: "user", content: "split the bill exactly" }];
const MAX_TOKENS = 20;
const ESTIMATE = (await chatPrompt(MESSAGES)) + MAX_TOKENS;
/** gpt-4o-mini's list price in nano-dollars per token: what one request can cost at worst, in whole nanos. */
const WORST_CASE_NANOS = Math.ceil(150 * (ESTIMATE - MAX_TOKENS) + 600 * MAX_TOKENS);
const KEYS = 4;
const PER_KEY = 50;
const FITS = 37;
/** Room for FITS worst cases and half of another: exactly FITS are admitted. */
const MAX_BUDGET_NANOS = WORST_CASE_NANOS * FITS + Math.floor(WORST_CASE_NANOS / 2);
const SLOW = { "x-mock-latency-ms": "3000" };

async function teamInfo(teamId: string): Promise<Record<string, any>> {
  const response = await call(`/team/info?team_id=${teamId}`);
  expect(response.status).toBe(200);
  return json(response);
}

describe("several keys of one team against the team's max_budget", () => {
  it("admit exactly as many worst-case reservations as the budget holds, and the team's spend is the sum of its keys'", async () => {
    const teamId = "team-shared-budget";
    await ensureTeam(teamId, { max_budget: MAX_BUDGET_NANOS / 1e9 });
    const keys = await Promise.all(Array.from({ length: KEYS }, (_, index) => createKey({ team_id: teamId, key_alias: `member-${index}` })));

    let watching = true;
    let worstCommitted = 0;
    let observations = 0;
    const watcher = (async () => {
      while (watching) {
        const { team_info } = await teamInfo(teamId);
        worstCommitted = Math.max(worstCommitted, nanos(team_info.spend) + nanos(team_info.usage.reserved_spend));
        observations++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const requests = keys.flatMap((key, keyIndex) =>
      Array.from({ length: PER_KEY }, () => chat(key.key, { messages: MESSAGES, max_tokens: MAX_TOKENS }, SLOW).then((response) => ({ keyIndex, response }))),
    );
    const answers = await Promise.all(requests);
    const bodies = await Promise.all(answers.map(({ response }) => json(response)));
    const admitted = answers.filter(({ response }) => response.status === 200);
    const refused = bodies.filter((_, index) => answers[index]!.response.status === 429);
    expect(admitted.length + refused.length).toBe(KEYS * PER_KEY);
    expect(admitted.length).toBe(FITS);
    expect(refused.every((body) => body.error.code === "budget_exceeded" && body.error.limit.scope === "team")).toBe(true);

    const infos = await Promise.all(keys.map((key) => settled(key.key)));
    watching = false;
    await watcher;
    expect(observations).toBeGreaterThan(10);
    expect(worstCommitted).toBeLessThanOrEqual(MAX_BUDGET_NANOS);
    // The watcher saw the peak: every admitted call holding its worst case at once.
    expect(worstCommitted).toBe(FITS * WORST_CASE_NANOS);

    const { team_info: team, keys: listed } = await teamInfo(teamId);
    expect(team.usage).toMatchObject({ requests: FITS, in_flight: 0, reserved_tokens: 0, reserved_spend: 0 });
    expect(nanos(team.spend)).toBeLessThanOrEqual(MAX_BUDGET_NANOS);
    expect(nanos(team.spend)).toBeGreaterThan(0);

    // Each key holds exactly its admitted calls: the refused ones were withdrawn at the key.
    for (const [index, info] of infos.entries()) {
      const mine = admitted.filter(({ keyIndex }) => keyIndex === index).length;
      expect(info.usage.requests).toBe(mine);
      expect(info.usage.reserved_tokens).toBe(0);
    }
    const keysSpend = infos.reduce((sum, info) => sum + nanos(info.spend), 0);
    expect(nanos(team.spend)).toBe(keysSpend);
    const listedSpend = listed.reduce((sum: number, info: Record<string, any>) => sum + nanos(info.spend), 0);
    expect(listedSpend).toBe(keysSpend);
    const responseCosts = admitted.reduce((sum, { response }) => sum + nanos(Number(response.headers.get("x-litellm-response-cost"))), 0);
    expect(nanos(team.spend)).toBe(responseCosts);
    const fromUsage = bodies
      .filter((_, index) => answers[index]!.response.status === 200)
      .reduce((sum, body) => sum + Math.ceil(150 * body.usage.prompt_tokens + 600 * body.usage.completion_tokens), 0);
    expect(nanos(team.spend)).toBe(fromUsage);
  });
});
