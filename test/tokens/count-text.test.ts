import { CL100K_TOKEN_SPLIT_REGEX, O200K_TOKEN_SPLIT_REGEX } from "gpt-tokenizer/encodingParams/constants";
import { beforeAll, describe, expect, it } from "vitest";
import { countText, ENCODINGS, type Encoding, isEncodingLoaded, loadEncoding, MAX_EXACT_PIECE } from "../../src/tokens";
import { decodeRanks } from "../../src/tokens/ranks";
import { countBySegments, mayHaveLongPiece, utf8Length } from "../../src/tokens/segments";
import { REFERENCE, TEXTS } from "./fixtures";

const SPLIT: Record<Encoding, RegExp> = { o200k_base: O200K_TOKEN_SPLIT_REGEX, cl100k_base: CL100K_TOKEN_SPLIT_REGEX };

/** Deterministic pseudo-random source, so a failure names a reproducible input. */
function random(seed: number): (below: number) => number {
  let state = seed;
  return (below) => {
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    return state % below;
  };
}

const ALPHABET = [" ", "  ", "   ", "\n", "\n\n", "\r\n", "\t", " \n", "a", "word", "The", "'s", "'LL", "X", "7", "2024", "!", ".", "/", "//", "\"", "{", "}", "中", "文", "😀", "e\u0301", "\uFEFF", "\u00a0", "<|endoftext|>"];

function randomText(next: (below: number) => number, pieces: number): string {
  let text = "";
  for (let index = 0; index < pieces; index++) text += ALPHABET[next(ALPHABET.length)];
  return text;
}

describe("countText", () => {
  beforeAll(async () => {
    await Promise.all(ENCODINGS.map((encoding) => loadEncoding(encoding)));
  });

  it("reports both encodings loaded once loadEncoding resolves, and loading again is a no-op", async () => {
    for (const encoding of ENCODINGS) expect(isEncodingLoaded(encoding)).toBe(true);
    await Promise.all([loadEncoding("o200k_base"), loadEncoding("o200k_base")]);
    expect(countText("hello world", "o200k_base")).toBe(2);
  });

  for (const encoding of ENCODINGS) {
    for (const name of Object.keys(TEXTS) as (keyof typeof TEXTS)[]) {
      it(`counts the ${name} fixture exactly as js-tiktoken's engine does with ${encoding}`, () => {
        expect(countText(TEXTS[name], encoding)).toBe(REFERENCE[name][encoding]);
      });
    }
  }

  it("counts special-token text such as <|endoftext|> as plain text instead of throwing", () => {
    expect(countText("<|endoftext|>", "o200k_base")).toBeGreaterThan(1);
    expect(countText("<|im_start|>user<|im_sep|>", "cl100k_base")).toBeGreaterThan(3);
  });

  it("counts the empty string as 0 and a non-string as its JSON serialisation", () => {
    expect(countText("", "o200k_base")).toBe(0);
    expect(countText({ a: 1 } as unknown as string, "o200k_base")).toBe(countText('{"a":1}', "o200k_base"));
  });

  it("refuses to load an encoding it does not know", async () => {
    await expect(loadEncoding("p50k_base" as Encoding)).rejects.toThrow(/unknown encoding/);
    expect(isEncodingLoaded("p50k_base" as Encoding)).toBe(false);
  });

  it("falls back to the UTF-8 byte length for an encoding that is not loaded", () => {
    const unloaded = "p50k_base" as Encoding;
    expect(isEncodingLoaded(unloaded)).toBe(false);
    expect(countText("héllo wörld", unloaded)).toBe(13);
    expect(countText(TEXTS.prose, unloaded)).toBeGreaterThan(REFERENCE.prose.o200k_base);
  });

  it("bounds a 1 MB run of one character by its bytes instead of merging it quadratically", () => {
    const text = "a".repeat(1_000_000);
    const count = countText(text, "o200k_base");
    // The exact count is 125,000 ("aaaaaaaa" is one token); the run is one split piece, bounded by its bytes.
    expect(count).toBeGreaterThanOrEqual(125_000);
    expect(count).toBeLessThanOrEqual(1_000_000);
  });

  it("bounds 1 MB of whitespace and a long unbroken CJK paragraph without undercounting", () => {
    expect(countText(" ".repeat(1_000_000), "cl100k_base")).toBeGreaterThanOrEqual(1_000_000 / 128);
    const cjk = "東京の天気は晴れ".repeat(50_000);
    expect(countText(cjk, "o200k_base")).toBeGreaterThanOrEqual(cjk.length / 4);
    expect(countText(cjk, "o200k_base")).toBeLessThanOrEqual(utf8Length(cjk));
  });

  it("counts 1 MB of random base64 exactly (its split pieces are short), between a token per 4 bytes and per byte", () => {
    const next = random(42);
    const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let text = "";
    for (let index = 0; index < 1_000_000; index++) text += digits[next(64)];
    const count = countText(text, "o200k_base");
    expect(count).toBeGreaterThan(250_000);
    expect(count).toBeLessThan(1_000_000);
    // Exact, not a bound: cut where a split piece ends (before a "+" that follows a letter or digit; the "+"
    // opens the next piece), the two halves add up to the whole.
    let cut = 500_000;
    while (!(text[cut] === "+" && /[A-Za-z0-9]/.test(text[cut - 1] ?? ""))) cut++;
    expect(count).toBe(countText(text.slice(0, cut), "o200k_base") + countText(text.slice(cut), "o200k_base"));
  });

  it("keeps ordinary text with one long run exact outside that run", () => {
    const run = "=".repeat(MAX_EXACT_PIECE + 1);
    const text = `${TEXTS.prose}\n${run}\n${TEXTS.code}`;
    const expected = countText(`${TEXTS.prose}\n`, "cl100k_base") + utf8Length(run) + countText(`\n${TEXTS.code}`, "cl100k_base");
    expect(countText(text, "cl100k_base")).toBe(expected);
  });
});

describe("segmented counting", () => {
  beforeAll(async () => {
    await Promise.all(ENCODINGS.map((encoding) => loadEncoding(encoding)));
  });

  for (const encoding of ENCODINGS) {
    it(`equals the whole-text count for ${encoding} wherever the cuts fall (long pieces counted exactly here)`, () => {
      const next = random(encoding === "o200k_base" ? 7 : 11);
      const whole = (text: string) => countText(text, encoding);
      for (let round = 0; round < 3_000; round++) {
        const text = randomText(next, 1 + next(30));
        // A tiny limit makes almost every piece "long", so the text is cut everywhere the rule allows.
        const limit = 1 + next(4);
        expect(countBySegments(text, SPLIT[encoding], whole, limit, whole), JSON.stringify(text)).toBe(whole(text));
      }
    });
  }

  it("never reports 'no long piece' for a text that has one", () => {
    const next = random(3);
    for (let round = 0; round < 3_000; round++) {
      const text = randomText(next, 1 + next(60));
      const limit = 2 + next(12);
      const longest = Math.max(...[...text.matchAll(new RegExp(SPLIT.o200k_base.source, "gu"))].map((match) => match[0].length));
      const longestCl = Math.max(...[...text.matchAll(new RegExp(SPLIT.cl100k_base.source, "gu"))].map((match) => match[0].length));
      if (Math.max(longest, longestCl) > limit) expect(mayHaveLongPiece(text, limit), JSON.stringify(text)).toBe(true);
    }
  });
});

describe("vocabulary data", () => {
  it("decodes every rank of both vocabularies, no token longer than 128 bytes", async () => {
    for (const [encoding, size] of [
      ["o200k_base", 199_998],
      ["cl100k_base", 100_256],
    ] as const) {
      const compact = (encoding === "o200k_base" ? await import("js-tiktoken/ranks/o200k_base") : await import("js-tiktoken/ranks/cl100k_base")).default;
      const ranks = decodeRanks(compact.bpe_ranks);
      expect(ranks.length, encoding).toBe(size);
      let longest = 0;
      let missing = 0;
      for (let rank = 0; rank < ranks.length; rank++) {
        const entry = ranks[rank];
        if (entry === undefined) missing++;
        else longest = Math.max(longest, typeof entry === "string" ? utf8Length(entry) : entry.length);
      }
      expect(missing, encoding).toBe(0);
      // lowerBoundTokens relies on this: MAX_TOKEN_BYTES (256) is twice the longest OpenAI token.
      expect(longest, encoding).toBe(128);
    }
  });
});
