import { describe, expect, it } from "vitest";
import { encodingFor, modelTokenizersSchema } from "../../src/tokens";

const none = {};

describe("encodingFor", () => {
  it.each([
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-realtime-preview",
    "chatgpt-4o-latest",
    "gpt-4.1",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.5-preview",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5.1-codex",
    "o1",
    "o1-mini",
    "o1-preview-2024-09-12",
    "o3-mini",
    "o3-pro",
    "o4-mini-2025-04-16",
    "gpt-oss-120b",
    "gpt-oss-20b",
  ])("maps the o200k family member %s to o200k_base", (model) => {
    expect(encodingFor(model, none)).toBe("o200k_base");
  });

  it.each([
    "gpt-4",
    "gpt-4-0613",
    "gpt-4-32k",
    "gpt-4-turbo",
    "gpt-4-turbo-2024-04-09",
    "gpt-4-1106-preview",
    "gpt-3.5-turbo",
    "gpt-3.5-turbo-0125",
    "gpt-3.5-turbo-instruct",
    "gpt-35-turbo",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
  ])("maps the cl100k family member %s to cl100k_base", (model) => {
    expect(encodingFor(model, none)).toBe("cl100k_base");
  });

  it.each([
    ["openai/gpt-4o", "o200k_base"],
    ["azure/gpt-4o-mini", "o200k_base"],
    ["azure_ai/gpt-4.1", "o200k_base"],
    ["openrouter/openai/gpt-4o", "o200k_base"],
    ["openrouter/openai/gpt-4o:free", "o200k_base"],
    ["groq/openai/gpt-oss-120b", "o200k_base"],
    ["bedrock/openai.gpt-oss-20b-1:0", "o200k_base"],
    ["azure/gpt-35-turbo", "cl100k_base"],
    ["openai/text-embedding-3-small", "cl100k_base"],
  ])("strips the provider prefix of %s", (model, encoding) => {
    expect(encodingFor(model, none)).toBe(encoding);
  });

  it.each([
    ["ft:gpt-4o-mini:acme::9abcDEF1", "o200k_base"],
    ["ft:gpt-4o-mini-2024-07-18:acme:support-bot:9abcDEF1", "o200k_base"],
    ["ft:gpt-3.5-turbo-0613:acme::7xyz", "cl100k_base"],
    ["openai/ft:gpt-4.1-nano:acme::id", "o200k_base"],
  ])("reads the base model of the fine-tune %s", (model, encoding) => {
    expect(encodingFor(model, none)).toBe(encoding);
  });

  it("ignores case and surrounding space in model names", () => {
    expect(encodingFor(" GPT-4o-Mini ", none)).toBe("o200k_base");
  });

  it.each([
    "claude-3-5-sonnet-20241022",
    "anthropic/claude-sonnet-4",
    "llama-3.1-70b-instruct",
    "meta-llama/Llama-3.3-70B-Instruct",
    "mistral-large-latest",
    "gemini-2.5-pro",
    "azure/my-prod-deployment",
    "gpt-4.2",
    "gpt-40",
    "gpt-6",
    "o2",
    "o1x",
    "text-embedding-3",
    "davinci-002",
    "",
  ])("returns null for %j, whose tokenizer is not known", (model) => {
    expect(encodingFor(model, none)).toBeNull();
  });

  it("lets an override name the encoding of a model the families do not know", () => {
    expect(encodingFor("prod-chat", { "prod-chat": "o200k_base" })).toBe("o200k_base");
    expect(encodingFor("azure/prod-embed", { "azure/prod-embed": "cl100k_base" })).toBe("cl100k_base");
  });

  it("lets an override win over the built-in family", () => {
    expect(encodingFor("gpt-4o", { "gpt-4o": "cl100k_base" })).toBe("cl100k_base");
  });

  it("matches overrides on the exact model name only", () => {
    expect(encodingFor("azure/prod-chat", { "prod-chat": "o200k_base" })).toBeNull();
    expect(encodingFor("Prod-Chat", { "prod-chat": "o200k_base" })).toBeNull();
  });

  it("ignores an override naming an unknown encoding and inherited object keys", () => {
    expect(encodingFor("prod-chat", { "prod-chat": "p50k_base" })).toBeNull();
    expect(encodingFor("gpt-4o", { "gpt-4o": "gpt2" })).toBe("o200k_base");
    expect(encodingFor("constructor", {})).toBeNull();
    expect(encodingFor("toString", {})).toBeNull();
  });
});

describe("modelTokenizersSchema", () => {
  it("accepts a map of model names to known encodings", () => {
    const config = { "prod-chat": "o200k_base", "legacy-embed": "cl100k_base" };
    expect(modelTokenizersSchema.parse(config)).toEqual(config);
  });

  it("rejects an unknown encoding name", () => {
    expect(modelTokenizersSchema.safeParse({ "prod-chat": "p50k_base" }).success).toBe(false);
    expect(modelTokenizersSchema.safeParse({ "prod-chat": "O200K_BASE" }).success).toBe(false);
  });

  it("rejects an empty model name and non-string values", () => {
    expect(modelTokenizersSchema.safeParse({ "": "o200k_base" }).success).toBe(false);
    expect(modelTokenizersSchema.safeParse({ "prod-chat": 1 }).success).toBe(false);
  });
});
