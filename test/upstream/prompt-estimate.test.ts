import { describe, expect, it } from "vitest";
import { promptUpperBound } from "../../src/upstream/estimate";
import { estimatePrompt, MAX_TOKENIZED_BYTES, SKIP_TOKENIZER_FROM_BYTES, tokenizerFor } from "../../src/upstream/prompt";

const o200k = await tokenizerFor("gpt-4o-mini", {});
const prose = (bytes: number) => "The quick brown fox jumps over the lazy dog. ".repeat(Math.ceil(bytes / 45)).slice(0, bytes);

describe("the front door's prompt estimate", () => {
  it("counts an OpenAI model's prompt exactly: its lower bound is the count itself", () => {
    const messages = [{ role: "user", content: prose(2_000) }];
    const estimate = estimatePrompt({ kind: "chat", messages }, o200k);
    expect(estimate.promptExact).toBe(true);
    expect(estimate.promptTokens).toBeLessThan(promptUpperBound(messages) / 3);
    expect(estimate.promptLowerBound).toBe(estimate.promptTokens);
  });

  it("bounds tool schemas safely: the lower bound leaves them out", () => {
    const messages = [{ role: "user", content: "weather?" }];
    const tools = [{ type: "function", function: { name: "get_weather", description: "Weather for a city", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
    const withTools = estimatePrompt({ kind: "chat", messages, tools }, o200k);
    const without = estimatePrompt({ kind: "chat", messages }, o200k);
    expect(withTools.promptTokens).toBeGreaterThan(without.promptTokens);
    expect(withTools.promptLowerBound).toBe(without.promptTokens);
  });

  it("uses the byte bound, with a bytes/256 lower bound, for a model whose tokenizer is unknown", async () => {
    const messages = [{ role: "user", content: prose(10_000) }];
    const estimate = estimatePrompt({ kind: "chat", messages }, await tokenizerFor("claude-sonnet-4", {}));
    expect(estimate).toEqual({ promptTokens: promptUpperBound(messages), promptExact: false, promptLowerBound: Math.ceil(promptUpperBound(messages) / 256) });
  });

  it("skips the tokenizer for a large prompt whose byte bound fits twenty times in the room last seen", () => {
    const messages = [{ role: "user", content: prose(SKIP_TOKENIZER_FROM_BYTES + 1_000) }];
    const bound = promptUpperBound(messages);
    expect(estimatePrompt({ kind: "chat", messages }, o200k, bound * 20).promptExact).toBe(false);
    expect(estimatePrompt({ kind: "chat", messages }, o200k, bound * 20 - 1).promptExact).toBe(true);
    expect(estimatePrompt({ kind: "chat", messages }, o200k, null).promptExact).toBe(true);
  });

  it("never tokenizes a prompt above MAX_TOKENIZED_BYTES (bounded CPU per call), and bounds it by bytes", () => {
    const messages = [{ role: "user", content: prose(MAX_TOKENIZED_BYTES + 10) }];
    const estimate = estimatePrompt({ kind: "chat", messages }, o200k, null);
    expect(estimate).toEqual({ promptTokens: promptUpperBound(messages), promptExact: false, promptLowerBound: Math.ceil(promptUpperBound(messages) / 256) });
  });

  it("always counts a small prompt, whatever the room", () => {
    const messages = [{ role: "user", content: prose(1_000) }];
    expect(estimatePrompt({ kind: "chat", messages }, o200k, Number.POSITIVE_INFINITY).promptExact).toBe(true);
  });

  it("maps provider prefixes and dated snapshots to the model's encoding", async () => {
    expect(await tokenizerFor("azure/gpt-4o-2024-08-06", {})).toBe("o200k_base");
    expect(await tokenizerFor("openai/gpt-3.5-turbo", {})).toBe("cl100k_base");
    expect(await tokenizerFor("my-finetune", { "my-finetune": "o200k_base" })).toBe("o200k_base");
  });
});
