import { beforeAll, describe, expect, it } from "vitest";
import {
  chatPromptTokens,
  countText,
  ENCODINGS,
  type Encoding,
  IMAGE_TOKENS,
  loadEncoding,
  lowerBoundTokens,
  MAX_TOKEN_BYTES,
  responsesPromptTokens,
  textPromptTokens,
  toolsPromptTokens,
} from "../../src/tokens";
import { COOKBOOK_CHAT, COOKBOOK_CHAT_API_TOKENS, COOKBOOK_TOOLS, COOKBOOK_TOOLS_API_TOKENS, COOKBOOK_TOOLS_MESSAGES, TEXTS } from "./fixtures";

beforeAll(async () => {
  await Promise.all(ENCODINGS.map((encoding) => loadEncoding(encoding)));
});

interface CookbookFunction {
  name: string;
  description: string;
  parameters: { type: string; properties: Record<string, { type: string; description: string; enum?: string[] }>; required?: string[] };
}

/**
 * The cookbook's fit of what the API bills for tools (section 7), with the larger of its per-function constants
 * (gpt-4's 10; gpt-4o's is 7), reproduced to check our bound on shapes its single example lacks: many enum
 * members, multi-line descriptions, a function without properties.
 */
function cookbookToolTokens(tools: readonly { function: CookbookFunction }[], encoding: Encoding): number {
  let total = 12;
  for (const { function: definition } of tools) {
    total += 10 + countText(`${definition.name}:${definition.description.replace(/\.$/, "")}`, encoding);
    const properties = Object.entries(definition.parameters.properties);
    if (properties.length > 0) total += 3;
    for (const [name, property] of properties) {
      total += 3;
      if (property.enum) {
        total -= 3;
        for (const item of property.enum) total += 3 + countText(item, encoding);
      }
      total += countText(`${name}:${property.type}:${property.description.replace(/\.$/, "")}`, encoding);
    }
  }
  return total;
}

const MANY_ENUMS: { type: string; function: CookbookFunction }[] = [
  {
    type: "function",
    function: {
      name: "set_region",
      description: "Choose the deployment region.",
      parameters: {
        type: "object",
        properties: {
          region: { type: "string", description: "Region code", enum: Array.from({ length: 200 }, (_, index) => `r${index}`) },
          tier: { type: "string", description: "Tier", enum: ["a", "b", "c", "d", "e", "f", "g", "h"] },
        },
        required: ["region"],
      },
    },
  },
];

const MULTILINE: { type: string; function: CookbookFunction }[] = [
  {
    type: "function",
    function: {
      name: "run_query",
      description: Array.from({ length: 40 }, (_, index) => `Line ${index}: rules.`).join("\n"),
      parameters: {
        type: "object",
        properties: {
          sql: { type: "string", description: "One\nstatement\nper\nline\nplease" },
          limit: { type: "integer", description: "Rows" },
        },
      },
    },
  },
  { type: "function", function: { name: "noop", description: "Does nothing.", parameters: { type: "object", properties: {} } } },
];

describe("chatPromptTokens", () => {
  for (const encoding of ENCODINGS) {
    it(`matches the prompt tokens the OpenAI API billed for the cookbook's chat with names (${encoding})`, () => {
      expect(chatPromptTokens({ messages: COOKBOOK_CHAT }, encoding)).toBe(COOKBOOK_CHAT_API_TOKENS[encoding]);
    });

    it(`bounds from above what the API billed for the cookbook's request with a tool (${encoding})`, () => {
      const bound = chatPromptTokens({ messages: COOKBOOK_TOOLS_MESSAGES, tools: COOKBOOK_TOOLS }, encoding);
      expect(bound).toBeGreaterThanOrEqual(COOKBOOK_TOOLS_API_TOKENS[encoding]);
      // ...without being absurd: within twice the real count.
      expect(bound).toBeLessThanOrEqual(2 * COOKBOOK_TOOLS_API_TOKENS[encoding]);
    });

    it(`bounds tool definitions at least by their plain JSON count and the cookbook's fit (${encoding})`, () => {
      const shapes: readonly (readonly { function: CookbookFunction }[])[] = [COOKBOOK_TOOLS, MANY_ENUMS, MULTILINE];
      for (const tools of shapes) {
        const bound = toolsPromptTokens(tools, encoding);
        expect(bound).toBeGreaterThanOrEqual(countText(JSON.stringify(tools), encoding));
        expect(bound).toBeGreaterThanOrEqual(cookbookToolTokens(tools, encoding));
      }
    });
  }

  it("adds the tools of both the tools and the legacy functions fields", () => {
    const messages = COOKBOOK_TOOLS_MESSAGES;
    const functions = COOKBOOK_TOOLS.map((tool) => tool.function);
    const plain = chatPromptTokens({ messages }, "o200k_base");
    expect(chatPromptTokens({ messages, functions }, "o200k_base")).toBe(plain + toolsPromptTokens(functions, "o200k_base"));
    expect(toolsPromptTokens([], "o200k_base")).toBe(0);
    expect(toolsPromptTokens(undefined, "o200k_base")).toBe(0);
  });

  it("frames each message with 3 tokens, a name with 1 more, and primes the reply with 3", () => {
    const content = "Hello there";
    const text = countText(content, "o200k_base") + countText("user", "o200k_base");
    expect(chatPromptTokens({ messages: [{ role: "user", content }] }, "o200k_base")).toBe(3 + text + 3);
    const named = chatPromptTokens({ messages: [{ role: "user", name: "alice", content }] }, "o200k_base");
    expect(named).toBe(3 + text + countText("alice", "o200k_base") + 1 + 3);
  });

  it("counts text parts as their text and each image part as the image constant", () => {
    const parts = [
      { type: "text", text: TEXTS.prose },
      { type: "image_url", image_url: { url: `data:image/png;base64,${"A".repeat(100_000)}`, detail: "high" } },
      { type: "text", text: "and this" },
    ];
    const asString = chatPromptTokens({ messages: [{ role: "user", content: `${TEXTS.prose}and this` }] }, "o200k_base");
    const withParts = chatPromptTokens({ messages: [{ role: "user", content: parts }] }, "o200k_base");
    expect(withParts - IMAGE_TOKENS).toBeGreaterThanOrEqual(asString - 2);
    expect(withParts - IMAGE_TOKENS).toBeLessThanOrEqual(asString + 2);
    expect(chatPromptTokens({ messages: [{ role: "user", content: parts }] }, "o200k_base", { imageTokens: 30_000 })).toBe(withParts - IMAGE_TOKENS + 30_000);
  });

  it("counts other content parts, tool calls and tool results by their JSON", () => {
    const toolCalls = [{ id: "call_1", type: "function", function: { name: "get_current_weather", arguments: '{"location":"Paris"}' } }];
    const audio = { type: "input_audio", input_audio: { data: "UklGRg==", format: "wav" } };
    const messages = [
      { role: "assistant", content: null, tool_calls: toolCalls },
      { role: "tool", tool_call_id: "call_1", content: '{"temperature":21}' },
      { role: "user", content: [audio] },
    ];
    const expected =
      3 +
      3 + countText("assistant", "o200k_base") + countText(JSON.stringify(toolCalls), "o200k_base") +
      3 + countText("tool", "o200k_base") + countText("call_1", "o200k_base") + countText('{"temperature":21}', "o200k_base") +
      3 + countText("user", "o200k_base") + countText(JSON.stringify(audio), "o200k_base");
    expect(chatPromptTokens({ messages }, "o200k_base")).toBe(expected);
  });
});

describe("textPromptTokens", () => {
  it("counts a string, each string of an array, and token ids as one each", () => {
    const prose = countText(TEXTS.prose, "cl100k_base");
    expect(textPromptTokens(TEXTS.prose, "cl100k_base")).toBe(prose);
    expect(textPromptTokens([TEXTS.prose, TEXTS.prose], "cl100k_base")).toBe(2 * prose);
    expect(textPromptTokens([1, 2, 3, 4], "cl100k_base")).toBe(4);
    expect(textPromptTokens([[1, 2], [3], []], "cl100k_base")).toBe(3);
    expect(textPromptTokens(42, "cl100k_base")).toBe(1);
    expect(textPromptTokens(undefined, "cl100k_base")).toBe(0);
  });

  it("counts message objects in the array like chat messages, with the reply priming", () => {
    const items = [{ role: "user", content: "Hello there" }];
    expect(textPromptTokens(items, "o200k_base")).toBe(chatPromptTokens({ messages: items }, "o200k_base"));
  });
});

describe("responsesPromptTokens", () => {
  it("counts a string input as one user message and instructions as a developer message", () => {
    const input = "What's the weather like in San Francisco?";
    const instructions = "You are a helpful assistant.";
    const expected =
      3 + 3 + countText("user", "o200k_base") + countText(input, "o200k_base") +
      3 + countText("developer", "o200k_base") + countText(instructions, "o200k_base");
    expect(responsesPromptTokens({ input, instructions }, "o200k_base")).toBe(expected);
  });

  it("counts message items like chat messages and adds the tool bound", () => {
    const input = [
      { type: "message", role: "user", content: [{ type: "input_text", text: "Weather in Paris?" }] },
      { type: "function_call", call_id: "call_1", name: "get_current_weather", arguments: '{"location":"Paris"}' },
      { type: "function_call_output", call_id: "call_1", output: '{"temperature":21}' },
    ];
    const tools = COOKBOOK_TOOLS.map((tool) => ({ type: "function", ...tool.function }));
    const withTools = responsesPromptTokens({ input, tools }, "o200k_base");
    expect(withTools).toBe(textPromptTokens(input, "o200k_base") + toolsPromptTokens(tools, "o200k_base"));
    expect(withTools).toBeGreaterThan(countText("Weather in Paris?", "o200k_base") + toolsPromptTokens(tools, "o200k_base"));
  });
});

describe("lowerBoundTokens", () => {
  it("is the byte length over the longest token any vocabulary has, rounded up", () => {
    expect(lowerBoundTokens(0)).toBe(0);
    expect(lowerBoundTokens(1)).toBe(1);
    expect(lowerBoundTokens(MAX_TOKEN_BYTES)).toBe(1);
    expect(lowerBoundTokens(MAX_TOKEN_BYTES + 1)).toBe(2);
    expect(lowerBoundTokens(Number.NaN)).toBe(0);
    expect(lowerBoundTokens(-5)).toBe(0);
  });

  it("stays below the real count even for the most compressible text", () => {
    // 1 MB of spaces: tokens of 128 spaces each, the best case any OpenAI vocabulary achieves.
    const spaces = " ".repeat(128 * 100);
    for (const encoding of ENCODINGS) {
      expect(lowerBoundTokens(spaces.length)).toBeLessThanOrEqual(100);
      for (const text of Object.values(TEXTS)) expect(lowerBoundTokens(new TextEncoder().encode(text).length)).toBeLessThanOrEqual(countText(text, encoding));
    }
  });
});

describe("malformed requests", () => {
  const deep = JSON.parse(`${"[".repeat(100_000)}"x"${"]".repeat(100_000)}`) as unknown;
  const cyclic: Record<string, unknown> = { role: "user" };
  cyclic.content = [cyclic];
  const hostile = [
    deep,
    undefined,
    null,
    42,
    "just a string",
    [],
    {},
    { messages: "not an array" },
    { messages: [null, 1, "x", true, [], { role: 5, content: { nested: [1, 2, { deep: "y" }] } }] },
    { messages: [{ role: "user", content: [null, 7, "loose", { type: "text", text: 9 }, { type: "image_url" }, { type: 1 }] }] },
    { messages: [{ role: "user", content: deep }], tools: deep, functions: { not: "an array" } },
    { messages: [cyclic], tools: [cyclic] },
    { messages: [{ role: "user", content: "big", extra: 10n }] },
    { input: deep, instructions: deep },
    { input: [deep, cyclic, 10n], instructions: { weird: true } },
  ];

  it("never throws and always returns a non-negative count", () => {
    for (const encoding of ENCODINGS) {
      for (const body of hostile) {
        const counts = [
          chatPromptTokens(body as never, encoding),
          textPromptTokens(body, encoding),
          responsesPromptTokens(body as never, encoding),
          toolsPromptTokens(body, encoding),
          countText(body as never, encoding),
        ];
        for (const count of counts) {
          expect(Number.isFinite(count) || count === Number.MAX_SAFE_INTEGER).toBe(true);
          expect(count).toBeGreaterThanOrEqual(0);
        }
      }
    }
  });

  it("bounds content too deep to serialise by its byte length instead of giving up", () => {
    const count = chatPromptTokens({ messages: [{ role: "user", content: deep }] }, "o200k_base");
    expect(count).toBeGreaterThanOrEqual(200_000);
  });

  it("fails closed on a value that cannot even be read", () => {
    const trap = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error("no");
        },
      },
    );
    expect(chatPromptTokens({ messages: [trap] }, "o200k_base")).toBe(Number.MAX_SAFE_INTEGER);
  });
});
