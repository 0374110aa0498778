import { runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { deploymentsSchema } from "../../src/config/deployments";
import { INPUT, OUTPUT, WHOLE, type LimiterState, type Reservation } from "../../src/limiter";
import { chatPrompt } from "../helpers/default-request";
import { call, chat, createKey, json, keyInfo, settled } from "../helpers/gateway";
import { deploymentStub } from "../helpers/objects";

// Deployments counted the way their provider counts them, through the gateway: Anthropic's separate input and
// output limits (ITPM / OTPM, cache reads excluded from input on current models) and OpenAI's request-time TPM
// (the prompt estimate plus max_tokens is charged at admission and kept, whatever the call really used).

const CLAUDE = { id: "claude-itpm-1", group: "claude-itpm", itpm: 3000, otpm: 400 } as const;
const CLAUDE_READS = { id: "claude-itpm-reads-1", group: "claude-itpm-reads", itpm: 3000 } as const;
const REQUEST_TIME = { id: "openai-request-time-1", group: "openai-request-time", tpm: 1000 } as const;
const IDS = [CLAUDE.id, CLAUDE_READS.id, REQUEST_TIME.id];

/** Deployment objects are shared by every test in this file: move their clocks past the window so each starts empty. */
afterEach(async () => {
  for (const id of IDS) {
    await runInDurableObject(deploymentStub(id), (instance) => {
      instance.clockOffsetMs += 61_000;
    });
  }
});

interface Windows {
  whole: number;
  input: number;
  output: number;
  inFlight: number;
  reservations: Reservation[];
}

/** What a deployment's windows count now: its whole window and the INPUT / OUTPUT windows of itpm / otpm. */
function windowsOf(id: string): Promise<Windows> {
  return runInDurableObject(deploymentStub(id), (instance) => {
    instance.view(); // brings the limiter to now: buckets past the window leave it
    // The limiter state is the object's own; tests read it to see the windows no snapshot reports.
    const state = (instance as unknown as { store: { state: LimiterState } }).store.state;
    const tokens = (scope: string) => (state.windows.get(scope)?.buckets ?? []).reduce((sum, bucket) => sum + bucket.tokens, 0);
    return {
      whole: tokens(WHOLE),
      input: tokens(INPUT),
      output: tokens(OUTPUT),
      inFlight: state.reservations.size,
      reservations: structuredClone([...state.reservations.values()]),
    };
  });
}

/** Settlement runs after the answer; wait until the deployment has nothing in flight. */
async function deploymentSettled(id: string, timeoutMs = 10_000): Promise<Windows> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const windows = await windowsOf(id);
    if (windows.inFlight === 0) return windows;
    if (Date.now() > deadline) throw new Error(`deployment ${id} still has ${windows.inFlight} in flight`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A prompt of about `chars` bytes: its byte bound (what admission holds for a Claude prompt) is a little more. */
const userMessage = (chars: number, tag = "") => [{ role: "user", content: `${tag}${"word ".repeat(Math.ceil(chars / 5))}` }];

/** POST /v1/messages as `key`, authenticated like the Anthropic SDKs (x-api-key). */
function messages(key: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return call("/v1/messages", { token: null, headers: { "x-api-key": key, "anthropic-version": "2023-06-01", ...headers }, body });
}

describe('an Anthropic deployment with itpm and otpm ("claude-itpm": 3000 in, 400 out)', () => {
  it("after settlement the input window counts input and cache writes but not cache reads; the output window counts output", async () => {
    const key = await createKey();
    const response = await messages(
      key.key,
      { model: CLAUDE.group, max_tokens: 50, messages: userMessage(2000) },
      { "x-mock-cache-read-tokens": "200", "x-mock-cache-write-tokens": "100", "x-mock-completion-tokens": "30" },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get("x-litellm-model-id")).toBe(CLAUDE.id);
    const usage = (await json(response)).usage;
    expect(usage).toMatchObject({ cache_read_input_tokens: 200, cache_creation_input_tokens: 100, output_tokens: 30 });
    expect(usage.input_tokens).toBeGreaterThan(0);
    await settled(key.key);
    const after = await deploymentSettled(CLAUDE.id);
    expect(after.input).toBe(usage.input_tokens + 100);
    expect(after.output).toBe(30);
    expect(after.whole).toBe(usage.input_tokens + 200 + 100 + 30);
  });

  it("/deployment/list reports the input and output windows the object counts, with what remains of itpm and otpm", async () => {
    const key = await createKey();
    const response = await messages(key.key, { model: CLAUDE.group, max_tokens: 50, messages: userMessage(1000) }, { "x-mock-completion-tokens": "20" });
    expect(response.status).toBe(200);
    await response.text();
    const windows = await deploymentSettled(CLAUDE.id);
    const listed = (await json(await call("/deployment/list"))).deployments.find((entry: { id: string }) => entry.id === CLAUDE.id);
    expect(listed.input_window).toMatchObject({ tokens: windows.input, limit: CLAUDE.itpm, remaining: CLAUDE.itpm - windows.input });
    expect(listed.output_window).toMatchObject({ tokens: windows.output, limit: CLAUDE.otpm, remaining: CLAUDE.otpm - 20 });
    expect(windows.output).toBe(20);
    const plain = (await json(await call("/deployment/list"))).deployments.find((entry: { id: string }) => entry.id === REQUEST_TIME.id);
    expect(plain.input_window).toBeNull();
    await settled(key.key);
  });

  it("while in flight the call holds its prompt bound in the input window and its whole max_tokens in the output window", async () => {
    const key = await createKey();
    const pending = messages(key.key, { model: CLAUDE.group, max_tokens: 300, messages: userMessage(100) }, { "x-mock-latency-ms": "1500", "x-mock-completion-tokens": "5" });
    let seen: Windows | null = null;
    const deadline = Date.now() + 1_200;
    while (Date.now() < deadline) {
      const now = await windowsOf(CLAUDE.id);
      if (now.inFlight === 1) {
        seen = now;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(seen).not.toBeNull();
    const [held] = seen!.reservations;
    expect(seen!.output).toBe(300);
    expect(seen!.input).toBe(held!.inputTokens);
    expect(seen!.input).toBe(held!.promptTokens);
    expect((await pending).status).toBe(200);
    await settled(key.key);
    expect((await deploymentSettled(CLAUDE.id)).output).toBe(5);
  });

  it("refuses max_tokens above otpm with a 429 in Anthropic's envelope naming the deployment's otpm, and reserves nothing", async () => {
    const key = await createKey();
    const response = await messages(key.key, { model: CLAUDE.group, max_tokens: CLAUDE.otpm + 1, messages: userMessage(40) });
    expect(response.status).toBe(429);
    const body = await json(response);
    expect(Object.keys(body).sort()).toEqual(["error", "type"]);
    expect(body.type).toBe("error");
    expect(body.error).toMatchObject({
      type: "rate_limit_error",
      message: expect.any(String),
      limit: { scope: "deployment", name: "otpm", limit: CLAUDE.otpm, requested: CLAUDE.otpm + 1, resets_in_ms: null },
    });
    // It can never fit: the client is told not to retry.
    expect(response.headers.get("x-should-retry")).toBe("false");
    const info = await keyInfo(key.key);
    expect(info.usage).toMatchObject({ requests: 0, tokens: 0, in_flight: 0 });
    expect(await windowsOf(CLAUDE.id)).toMatchObject({ input: 0, output: 0, inFlight: 0 });
    // The limit itself is admitted.
    const atLimit = await messages(key.key, { model: CLAUDE.group, max_tokens: CLAUDE.otpm, messages: userMessage(40) }, { "x-mock-completion-tokens": "3" });
    expect(atLimit.status).toBe(200);
    await atLimit.text();
    await settled(key.key);
  });

  async function burst(count: number, body: Record<string, unknown>) {
    const keys = await Promise.all(Array.from({ length: 4 }, () => createKey()));
    let watching = true;
    const peak = { input: 0, output: 0, inFlight: 0, heldInput: new Set<number>() };
    const watcher = (async () => {
      while (watching) {
        const now = await windowsOf(CLAUDE.id);
        peak.input = Math.max(peak.input, now.input);
        peak.output = Math.max(peak.output, now.output);
        peak.inFlight = Math.max(peak.inFlight, now.inFlight);
        for (const reservation of now.reservations) peak.heldInput.add(reservation.inputTokens!);
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
    })();
    const responses = await Promise.all(
      Array.from({ length: count }, (_, index) =>
        messages(keys[index % keys.length]!.key, { model: CLAUDE.group, ...body }, { "x-mock-latency-ms": "2500", "x-mock-completion-tokens": "5" }),
      ),
    );
    const bodies = await Promise.all(responses.map((response) => json(response)));
    await Promise.all(keys.map((key) => settled(key.key)));
    watching = false;
    await watcher;
    await deploymentSettled(CLAUDE.id);
    const ok = responses.filter((response) => response.status === 200).length;
    const refused = bodies.filter((_, index) => responses[index]!.status === 429);
    expect(ok + refused.length).toBe(count);
    for (const refusal of refused) expect(refusal.error.limit.scope).toBe("deployment");
    return { ok, refused, peak };
  }

  it("concurrent calls never take the output window above otpm: exactly floor(otpm / max_tokens) are in flight at once", async () => {
    const { ok, refused, peak } = await burst(12, { max_tokens: 150, messages: userMessage(40) });
    expect(ok).toBe(Math.floor(CLAUDE.otpm / 150));
    expect(peak.output).toBe(ok * 150);
    expect(peak.output).toBeLessThanOrEqual(CLAUDE.otpm);
    expect(peak.input).toBeLessThanOrEqual(CLAUDE.itpm);
    for (const refusal of refused) expect(refusal.error).toMatchObject({ code: "otpm_limit_exceeded", limit: { name: "otpm", limit: CLAUDE.otpm } });
  });

  it("concurrent calls never take the input window above itpm", async () => {
    const { ok, refused, peak } = await burst(12, { max_tokens: 10, messages: userMessage(1200, "input burst ") });
    expect(refused.length).toBeGreaterThan(0);
    for (const refusal of refused) expect(refusal.error).toMatchObject({ code: "itpm_limit_exceeded", limit: { name: "itpm", limit: CLAUDE.itpm } });
    expect(peak.input).toBeLessThanOrEqual(CLAUDE.itpm);
    expect(peak.output).toBeLessThanOrEqual(CLAUDE.otpm);
    // Every call held the same prompt reservation; exactly as many as fit were admitted.
    expect(peak.heldInput.size).toBe(1);
    const [held] = [...peak.heldInput];
    expect(ok).toBe(Math.floor(CLAUDE.itpm / held!));
    expect(peak.input).toBe(ok * held!);
  });
});

describe('an Anthropic deployment whose itpm counts cache reads ("claude-itpm-reads")', () => {
  it("counts input, cache writes and cache reads in its input window", async () => {
    const key = await createKey();
    const response = await messages(
      key.key,
      { model: CLAUDE_READS.group, max_tokens: 50, messages: userMessage(2000) },
      { "x-mock-cache-read-tokens": "200", "x-mock-cache-write-tokens": "100", "x-mock-completion-tokens": "30" },
    );
    expect(response.status).toBe(200);
    const usage = (await json(response)).usage;
    expect(usage).toMatchObject({ cache_read_input_tokens: 200, cache_creation_input_tokens: 100, output_tokens: 30 });
    await settled(key.key);
    const after = await deploymentSettled(CLAUDE_READS.id);
    expect(after.input).toBe(usage.input_tokens + 200 + 100);
    // No otpm: no output window.
    expect(after.output).toBe(0);
    expect(after.whole).toBe(usage.input_tokens + 200 + 100 + 30);
  });
});

describe('an OpenAI deployment counting TPM at request time ("openai-request-time": tpm 1000)', () => {
  const MESSAGES = [{ role: "user", content: "hi" }];
  const MAX_TOKENS = 300;
  const ask = (key: string) => chat(key, { model: REQUEST_TIME.group, messages: MESSAGES, max_tokens: MAX_TOKENS }, { "x-mock-completion-tokens": "5" });

  it("keeps the prompt estimate plus max_tokens in the deployment's window, while the key settles to real usage", async () => {
    const estimate = (await chatPrompt(MESSAGES, REQUEST_TIME.group)) + MAX_TOKENS;
    const key = await createKey();
    const response = await ask(key.key);
    expect(response.status).toBe(200);
    const real = (await json(response)).usage.total_tokens;
    expect(real).toBeLessThan(estimate);
    const info = await settled(key.key);
    expect(info.usage.tokens).toBe(real);
    const after = await deploymentSettled(REQUEST_TIME.id);
    expect(after.whole).toBe(estimate);
    const view = await runInDurableObject(deploymentStub(REQUEST_TIME.id), (instance) => instance.view());
    expect(view!.snapshot.window).toMatchObject({ tokens: estimate, requests: 1, tokensLimit: REQUEST_TIME.tpm });
  });

  it("refuses the first call the kept reservations leave no room for (429, scope deployment), though real usage is far lower", async () => {
    const estimate = (await chatPrompt(MESSAGES, REQUEST_TIME.group)) + MAX_TOKENS;
    const fits = Math.floor(REQUEST_TIME.tpm / estimate);
    expect(fits).toBeGreaterThanOrEqual(2);
    const key = await createKey();
    let realTotal = 0;
    for (let index = 0; index < fits; index++) {
      const response = await ask(key.key);
      expect(response.status).toBe(200);
      realTotal += (await json(response)).usage.total_tokens;
      await settled(key.key);
      await deploymentSettled(REQUEST_TIME.id);
    }
    expect(realTotal * 10).toBeLessThan(REQUEST_TIME.tpm);
    const refused = await ask(key.key);
    expect(refused.status).toBe(429);
    expect((await json(refused)).error).toMatchObject({
      code: "tpm_limit_exceeded",
      limit: { scope: "deployment", name: "tpm_limit", limit: REQUEST_TIME.tpm, remaining: REQUEST_TIME.tpm - fits * estimate, requested: estimate },
    });
    // The refusal left nothing at the key, whose own window holds only the real usage.
    const info = await keyInfo(key.key);
    expect(info.usage).toMatchObject({ tokens: realTotal, requests: fits, in_flight: 0 });
  });

  it('the config schema rejects tpm_counting "request_time" with reservation_policy "adaptive"', () => {
    const entry = (extra: Record<string, unknown>) => ({ group: [{ id: "d-1", base_url: "", tpm: 1000, tpm_counting: "request_time", ...extra }] });
    const adaptive = deploymentsSchema.safeParse(entry({ reservation_policy: "adaptive" }));
    expect(adaptive.success).toBe(false);
    expect(adaptive.error!.issues.map((issue) => issue.path.join("."))).toContain("group.0.reservation_policy");
    expect(deploymentsSchema.safeParse(entry({ reservation_policy: "strict" })).success).toBe(true);
    expect(deploymentsSchema.safeParse(entry({})).success).toBe(true);
    expect(deploymentsSchema.safeParse(entry({ tpm_counting: "usage", reservation_policy: "adaptive" })).success).toBe(true);
  });
});
