/**
 * Texts with reference token counts from an independent implementation: js-tiktoken's own BPE engine (its
 * Tiktoken class, not the gpt-tokenizer engine src/tokens runs), computed once in Node with
 *   new Tiktoken(ranks).encode(text, [], []).length
 * for ranks from js-tiktoken/ranks/o200k_base and js-tiktoken/ranks/cl100k_base (js-tiktoken 1.0.21), special
 * tokens treated as plain text. Stock gpt-tokenizer 4.0.0 agrees on all but `tricky`, where it counts the
 * U+FEFF before "using" as two tokens (132 / 140): src/tokens/ranks.ts explains the difference.
 */
import type { Encoding } from "../../src/tokens";

export const TEXTS = {
  prose: `The lighthouse keeper had kept the same routine for thirty-one years. Every evening, a quarter of an hour before sunset, he climbed the ninety-four iron steps, wiped the salt from the great lens with a chamois cloth, and trimmed the wick as his father had shown him. Ships no longer needed the light, strictly speaking; they carried satellite receivers that knew their position to within a few metres. But the harbour authority's budget had a line for "maintenance of navigational aids", and nobody in the capital had ever asked what it paid for.

On the night of the storm, the radio crackled at 11:42 p.m. A fishing boat, the Marguerite, had lost her electronics when a wave broke over the wheelhouse. "We can see your light," the skipper said, his voice thin through the static. "Keep it burning, would you?" The keeper didn't answer at first. Then he said, simply: "It's what I'm here for."

By morning the sea had calmed; the Marguerite was tied up at the quay, her crew asleep in the café's back room. The keeper wrote two lines in the log (weather: NW gale, force 9; visibility: poor) and went home to bed.`,
  code: `import { z } from "zod";

// Parses a rate-limit header such as "120;w=60" into a budget per window.
export const budgetSchema = z.object({ limit: z.number().int().positive(), windowSeconds: z.number().int().min(1) });

export function parseBudget(header: string | null): { limit: number; windowSeconds: number } | null {
  if (!header) return null;
  const [limitText, ...params] = header.split(";");
  const limit = Number.parseInt(limitText ?? "", 10);
  let windowSeconds = 60;
  for (const param of params) {
    const [key, value] = param.trim().split("=");
    if (key === "w" && value !== undefined) windowSeconds = Number(value);
  }
  const parsed = budgetSchema.safeParse({ limit, windowSeconds });
  return parsed.success ? parsed.data : null;
}

def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a

if __name__ == "__main__":
    print([fib(i) for i in range(10)])  # [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]
`,
  cjk: `東京の天気は晴れ、最高気温は二十八度の予想です。午後からは南の風がやや強く吹くでしょう。
北京今天多云转晴，最高气温三十度，空气质量良好。请注意防晒，多喝水。
서울은 오늘 흐리고 오후 한때 비가 오겠습니다. 외출하실 때 우산을 챙기세요.
漢字、ひらがな、カタカナ、한글 — 混在したテキストもそのまま数えます。`,
  emoji: `Launch day 🚀🚀🚀! Thanks team 🙏🏽👏👏 — family: 👨‍👩‍👧‍👦, flags: 🇫🇷🇯🇵🇧🇷, hearts ❤️🧡💛💚💙💜, and a rare one: 🫠. Weather ☀️→🌧️→🌈. Score: 10/10 ✅`,
  tricky: `<|endoftext|> is just text here, as is <|im_start|>system and <|fim_prefix|>.\uFEFFusing System;\n\n\n\t\tindented\u00a0nbsp  and  double  spaces   \r\nCRLF line\r\ne\u0301 (combining acute) vs é; ﬁ ligature; ß; İstanbul; 1234567890; 3.14159; -42; 0xDEADBEEF; user@example.com; https://example.com/a/b?c=d&e=f#g; "quotes" and 'apostrophes' don't, won't, I'm, we'll, they've, she'd. ${" ".repeat(200)}end`,
};

export const REFERENCE: Record<keyof typeof TEXTS, Record<Encoding, number>> = {
  prose: { o200k_base: 255, cl100k_base: 263 },
  code: { o200k_base: 290, cl100k_base: 290 },
  cjk: { o200k_base: 119, cl100k_base: 170 },
  emoji: { o200k_base: 89, cl100k_base: 114 },
  tricky: { o200k_base: 130, cl100k_base: 138 },
};

/**
 * OpenAI cookbook "How to count tokens with tiktoken", section 6: its example chat and the prompt_tokens the
 * OpenAI API reported for it (124 for gpt-4o and gpt-4o-mini, 129 for gpt-3.5-turbo and gpt-4), printed in the
 * notebook next to its own count.
 */
export const COOKBOOK_CHAT = [
  { role: "system", content: "You are a helpful, pattern-following assistant that translates corporate jargon into plain English." },
  { role: "system", name: "example_user", content: "New synergies will help drive top-line growth." },
  { role: "system", name: "example_assistant", content: "Things working well together will increase revenue." },
  {
    role: "system",
    name: "example_user",
    content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
  },
  { role: "system", name: "example_assistant", content: "Let's talk later when we're less busy about how to do better." },
  { role: "user", content: "This late pivot means we don't have time to boil the ocean for the client deliverable." },
];
export const COOKBOOK_CHAT_API_TOKENS: Record<Encoding, number> = { o200k_base: 124, cl100k_base: 129 };

/** Section 7: the same for a request with one tool (101 for gpt-4o/gpt-4o-mini, 105 for gpt-3.5-turbo/gpt-4). */
export const COOKBOOK_TOOLS = [
  {
    type: "function",
    function: {
      name: "get_current_weather",
      description: "Get the current weather in a given location",
      parameters: {
        type: "object",
        properties: {
          location: { type: "string", description: "The city and state, e.g. San Francisco, CA" },
          unit: { type: "string", description: "The unit of temperature to return", enum: ["celsius", "fahrenheit"] },
        },
        required: ["location"],
      },
    },
  },
];
export const COOKBOOK_TOOLS_MESSAGES = [
  { role: "system", content: "You are a helpful assistant that can answer to questions about the weather." },
  { role: "user", content: "What's the weather like in San Francisco?" },
];
export const COOKBOOK_TOOLS_API_TOKENS: Record<Encoding, number> = { o200k_base: 101, cl100k_base: 105 };
