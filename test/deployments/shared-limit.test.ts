import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { deploymentStub } from "../helpers/objects";
import { promptUpperBound } from "../../src/upstream/estimate";
import { call, chat, createKey, ensureTeam, json, keyInfo, settled } from "../helpers/gateway";

const MODEL = "shared-model";
const TPM = 3000;
const RPM = 40;
const KEYS = 5;
const PER_KEY = 40;
const SLOW = { "x-mock-latency-ms": "3000" };

const stub = () => deploymentStub("shared-1");
const deploymentView = () => runInDurableObject(stub(), (instance) => instance.view());

/** Both tests use the same deployment object: move its clock past the window so each starts empty. */
afterEach(async () => {
  await runInDurableObject(stub(), (instance) => {
    instance.clockOffsetMs += 61_000;
  });
});

async function fire(messages: unknown[], maxTokens: number) {
  const keys = await Promise.all(Array.from({ length: KEYS }, () => createKey()));
  let watching = true;
  const peak = { tokens: 0, requests: 0, inFlight: 0, reservedTokens: 0 };
  const watcher = (async () => {
    while (watching) {
      const view = await deploymentView();
      if (view) {
        peak.tokens = Math.max(peak.tokens, view.snapshot.window.tokens);
        peak.requests = Math.max(peak.requests, view.snapshot.window.requests);
        peak.inFlight = Math.max(peak.inFlight, view.snapshot.inFlight);
        peak.reservedTokens = Math.max(peak.reservedTokens, view.snapshot.reservedTokens);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const answers = await Promise.all(
    keys.flatMap((key, keyIndex) =>
      Array.from({ length: PER_KEY }, () => chat(key.key, { model: MODEL, messages, max_tokens: maxTokens }, SLOW).then((response) => ({ keyIndex, response }))),
    ),
  );
  const bodies = await Promise.all(answers.map(({ response }) => json(response)));
  const infos = await Promise.all(keys.map((key) => settled(key.key)));
  watching = false;
  await watcher;
  const ok = answers.filter(({ response }) => response.status === 200);
  const refused = bodies.filter((_, index) => answers[index]!.response.status === 429);
  expect(ok.length + refused.length).toBe(KEYS * PER_KEY);
  // Every refusal is the deployment's, and left nothing behind at its key.
  for (const body of refused) expect(body.error.limit.scope).toBe("deployment");
  for (const [index, info] of infos.entries()) {
    expect(info.usage.requests).toBe(ok.filter(({ keyIndex }) => keyIndex === index).length);
    expect(info.usage.in_flight).toBe(0);
    expect(info.usage.reserved_tokens).toBe(0);
  }
  const realTokens = bodies.filter((_, index) => answers[index]!.response.status === 200).reduce((sum, body) => sum + body.usage.total_tokens, 0);
  expect(infos.reduce((sum, info) => sum + info.usage.tokens, 0)).toBe(realTokens);
  for (const { response } of ok) expect(response.headers.get("x-litellm-model-id")).toBe("shared-1");
  const after = (await deploymentView())!.snapshot;
  expect(after.inFlight).toBe(0);
  expect(after.reservedTokens).toBe(0);
  expect(after.window.tokens).toBe(realTokens);
  expect(after.window.requests).toBe(ok.length);
  return { ok, refused, peak };
}

describe("200 simultaneous requests from several keys to one deployment", () => {
  it("admit exactly floor(tpm / estimate) when tpm binds, and its window never passes tpm", async () => {
    const messages = [{ role: "user", content: "a prompt long enough that tokens, not requests, run out first" }];
    const maxTokens = 37;
    const estimate = promptUpperBound(messages) + maxTokens;
    const fits = Math.floor(TPM / estimate);
    expect(fits).toBeLessThan(RPM);
    const { ok, refused, peak } = await fire(messages, maxTokens);
    expect(ok.length).toBe(fits);
    expect(new Set(refused.map((body) => body.error.code))).toEqual(new Set(["tpm_limit_exceeded"]));
    for (const body of refused) expect(body.error.limit).toMatchObject({ name: "tpm_limit", limit: TPM, requested: estimate });
    expect(peak.tokens).toBeLessThanOrEqual(TPM);
    expect(peak.tokens).toBe(fits * estimate);
    expect(peak.inFlight).toBe(fits);
    expect(peak.reservedTokens).toBe(fits * estimate);
  });

  it("admit exactly rpm when rpm binds", async () => {
    const messages = [{ role: "user", content: "hi" }];
    const maxTokens = 1;
    const estimate = promptUpperBound(messages) + maxTokens;
    expect(estimate * RPM).toBeLessThan(TPM);
    const { ok, refused, peak } = await fire(messages, maxTokens);
    expect(ok.length).toBe(RPM);
    expect(new Set(refused.map((body) => body.error.code))).toEqual(new Set(["rpm_limit_exceeded"]));
    for (const body of refused) expect(body.error.limit).toMatchObject({ name: "rpm_limit", limit: RPM });
    expect(peak.requests).toBe(RPM);
    expect(peak.tokens).toBeLessThanOrEqual(TPM);
    expect(peak.inFlight).toBe(RPM);
  });

  it("a refusal by the deployment withdraws what the key and its team had reserved", async () => {
    const filler = await createKey();
    for (let index = 0; index < RPM; index++) expect((await chat(filler.key, { model: MODEL, max_tokens: 1 })).status).toBe(200);
    await ensureTeam("team-behind-deployment", { rpm_limit: 1_000, tpm_limit: 1_000_000 });
    const key = await createKey({ team_id: "team-behind-deployment" });
    const teamBefore = (await json(await call("/team/info?team_id=team-behind-deployment"))).team_info;
    const keyBefore = await keyInfo(key.key);
    const refused = await chat(key.key, { model: MODEL, max_tokens: 1 });
    expect(refused.status).toBe(429);
    expect((await json(refused)).error).toMatchObject({ code: "rpm_limit_exceeded", limit: { scope: "deployment", limit: RPM } });
    const teamAfter = (await json(await call("/team/info?team_id=team-behind-deployment"))).team_info;
    const keyAfter = await keyInfo(key.key);
    for (const [before, after] of [[keyBefore, keyAfter], [teamBefore, teamAfter]] as const) {
      expect(after.usage.requests).toBe(before.usage.requests);
      expect(after.usage.tokens).toBe(before.usage.tokens);
      expect(after.usage.in_flight).toBe(0);
      expect(after.usage.reserved_tokens).toBe(0);
    }
    expect(teamAfter.usage.requests).toBe(0);
    const deployment = (await deploymentView())!.snapshot;
    expect(deployment.window.requests).toBe(RPM);
  });
});
