import { describe, expect, it } from "vitest";
import { call, chat, createKey, json, keyInfo, settled } from "../helpers/gateway";
import { PROMPT_ESTIMATE } from "../helpers/default-request";

const LONG_CAP = 4_000;

/**
 * `n` calls whose real output is `output` tokens under a 4,000-token cap, settled one after another. Returns the
 * tokens they left in the window (their real usage, as the upstream reported it).
 */
async function teach(key: string, n: number, output: number): Promise<number> {
  for (let index = 0; index < n; index++) {
    const response = await chat(key, { max_tokens: LONG_CAP }, { "x-mock-completion-tokens": String(output) });
    expect(response.status).toBe(200);
    await response.text();
    await settled(key);
  }
  return (await keyInfo(key)).usage.tokens;
}

/** Reads a streamed answer until `predicate` holds of the text so far (or the stream ends); returns the reader. */
async function readUntil(response: Response, predicate: (text: string) => boolean): Promise<{ text: string; reader: ReadableStreamDefaultReader<Uint8Array> }> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { text, reader };
    text += decoder.decode(value, { stream: true });
    if (predicate(text)) return { text, reader };
  }
}

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  while (!(await reader.read()).done) {
    // keep reading
  }
}

describe("reservation_policy on keys", () => {
  it("defaults to adaptive and is shown in /key/info usage", async () => {
    const key = await createKey({ tpm_limit: 10_000 });
    const info = await keyInfo(key.key);
    expect(info.reservation_policy).toBe("adaptive");
    expect(info.usage.reservation_policy).toBe("adaptive");
    expect(info.usage.learned).toEqual({ models: [], call_duration_ms: { samples: 0, p50: null, p95: null } });
  });

  it("can be set to strict on /key/generate and changed on /key/update", async () => {
    const key = await createKey({ tpm_limit: 10_000, reservation_policy: "strict" });
    expect((await keyInfo(key.key)).usage.reservation_policy).toBe("strict");
    const updated = await call("/key/update", { body: { key: key.key, reservation_policy: "adaptive" } });
    expect(updated.status).toBe(200);
    expect((await keyInfo(key.key)).usage.reservation_policy).toBe("adaptive");
  });

  it("refuses an unknown policy with 400 naming the field, and creates no key", async () => {
    const response = await call("/key/generate", { body: { reservation_policy: "generous" } });
    expect(response.status).toBe(400);
    expect((await json(response)).error).toMatchObject({ code: "invalid_request", param: "reservation_policy" });
  });

  it("is a team field too", async () => {
    const teamId = `team-policy-${crypto.randomUUID()}`;
    expect((await call("/team/new", { body: { team_id: teamId, tpm_limit: 5_000, reservation_policy: "strict" } })).status).toBe(200);
    const info = await json(await call(`/team/info?team_id=${teamId}`));
    expect(info.team_info.reservation_policy).toBe("strict");
    expect(info.team_info.usage.reservation_policy).toBe("strict");
  });
});

describe("adaptive reservations learn real output lengths", () => {
  it("reserve the cap at first, then the learned mean, shown in /key/info", async () => {
    const key = await createKey({ tpm_limit: 100_000 });
    const first = await chat(key.key, { max_tokens: LONG_CAP }, { "x-mock-completion-tokens": "40", "x-mock-latency-ms": "300" });
    expect(first.headers.get("x-ratelimit-remaining-tokens")).toBe(String(100_000 - PROMPT_ESTIMATE - LONG_CAP));
    await first.text();
    await settled(key.key);
    const before = await teach(key.key, 8, 40);

    const response = await chat(key.key, { max_tokens: LONG_CAP }, { "x-mock-completion-tokens": "40" });
    const used = 100_000 - Number(response.headers.get("x-ratelimit-remaining-tokens"));
    await response.text();
    const info = await settled(key.key);
    // The window as admission saw it: nine settled calls plus this one's reservation.
    const reservedNow = used - before;
    // At least the learned output (40; the sketch rounds up by at most 10%), at most the prompt plus it: far
    // below the 4,000 cap.
    expect(reservedNow).toBeGreaterThanOrEqual(40);
    expect(reservedNow).toBeLessThan(PROMPT_ESTIMATE + 60);
    const learned = info.usage.learned.models.find((model: { model: string }) => model.model === "gpt-4o-mini");
    expect(learned).toMatchObject({ output_p50: expect.any(Number), output_p95: expect.any(Number) });
    expect(learned.output_samples).toBeGreaterThanOrEqual(10);
    expect(learned.output_estimate).toBeGreaterThanOrEqual(40);
    expect(learned.output_estimate).toBeLessThan(60);
    expect(info.usage.learned.call_duration_ms.samples).toBeGreaterThanOrEqual(10);
  });

  it("under strict still reserve the full cap after the same history", async () => {
    const key = await createKey({ tpm_limit: 100_000, reservation_policy: "strict" });
    const before = await teach(key.key, 9, 40);
    const response = await chat(key.key, { max_tokens: LONG_CAP }, { "x-mock-completion-tokens": "40" });
    const used = 100_000 - Number(response.headers.get("x-ratelimit-remaining-tokens"));
    expect(used).toBe(before + PROMPT_ESTIMATE + LONG_CAP);
    await response.text();
  });
});

describe("a stream that generates past its adaptive reservation", () => {
  it("is topped up while it streams, never cut, and settles to its real usage", async () => {
    const key = await createKey({ tpm_limit: 100_000 });
    const settledBefore = await teach(key.key, 8, 20);
    const mockPrompt = settledBefore / 8 - 20;
    const streamed = 300;
    const response = await chat(
      key.key,
      { max_tokens: LONG_CAP, stream: true },
      { "x-mock-completion-tokens": String(streamed), "x-mock-chunk-delay-ms": "2" },
    );
    expect(response.status).toBe(200);
    const admittedAt = 100_000 - Number(response.headers.get("x-ratelimit-remaining-tokens"));
    const reservedAtAdmission = admittedAt - settledBefore;
    expect(reservedAtAdmission).toBeLessThan(PROMPT_ESTIMATE + 40);

    // Well past the reservation: the window already holds more than was reserved at admission.
    const { reader } = await readUntil(response, (text) => (text.match(/tok /g) ?? []).length >= 200);
    const during = await keyInfo(key.key);
    expect(during.usage.in_flight).toBe(1);
    expect(during.usage.reserved_tokens).toBeGreaterThanOrEqual(reservedAtAdmission + 100);
    expect(during.usage.tokens).toBeGreaterThanOrEqual(settledBefore + reservedAtAdmission + 100);

    await drain(reader);
    const after = await settled(key.key);
    expect(after.usage.tokens).toBe(settledBefore + mockPrompt + streamed);
    expect(after.usage.reserved_tokens).toBe(0);
  });
});

describe("a refusal caused by calls in flight", () => {
  it("says how many calls hold how many tokens, and hints from call durations", async () => {
    const key = await createKey({ tpm_limit: 1_000, reservation_policy: "strict" });
    // History: eight quick calls of 10 tokens, so durations are known.
    for (let index = 0; index < 8; index++) {
      await (await chat(key.key, { max_tokens: 10 })).text();
      await settled(key.key);
    }
    // Two slow calls hold 2 x (prompt + 350); a third asking for prompt + 250 does not fit beside them, but would
    // fit once they settle: the refusal is caused by what is in flight.
    const slow = { "x-mock-latency-ms": "1500", "x-mock-completion-tokens": "5" };
    const holding = [chat(key.key, { max_tokens: 350 }, slow), chat(key.key, { max_tokens: 350 }, slow)];
    // Let both be admitted first.
    for (let tries = 0; tries < 100 && (await keyInfo(key.key)).usage.in_flight < 2; tries++) await new Promise((resolve) => setTimeout(resolve, 10));
    const refused = await chat(key.key, { max_tokens: 250 });
    expect(refused.status).toBe(429);
    const { error } = await json(refused);
    expect(error.code).toBe("tpm_limit_exceeded");
    expect(error.limit.in_flight).toEqual({ calls: 2, tokens: 2 * (PROMPT_ESTIMATE + 350) });
    expect(error.message).toContain(`2 calls in flight hold ${2 * (PROMPT_ESTIMATE + 350)} tokens; capacity frees as they finish`);
    const hint = Number(refused.headers.get("retry-after-ms"));
    expect(hint).toBeGreaterThan(0);
    expect(hint).toBeLessThanOrEqual(1_600);
    for (const response of await Promise.all(holding)) await response.text();
    await settled(key.key);
  });
});
