import { CL100K_TOKEN_SPLIT_REGEX, O200K_TOKEN_SPLIT_REGEX } from "gpt-tokenizer/encodingParams/constants";
import type { Encoding } from "./encoding";
import { decodeRanks } from "./ranks";
import { countBySegments, MAX_EXACT_PIECE, mayHaveLongPiece, utf8Length } from "./segments";

/**
 * Loading is explicit and asynchronous because a vocabulary is big: ~3.4 MB of source for o200k_base, ~20 MB of
 * heap once built (cl100k_base about half), and ~0.3-0.6 s of CPU to build. Behind a dynamic import the bundler
 * keeps that code unevaluated until the first prompt of a model that needs it, instead of in every isolate's
 * startup (Durable Objects included) and for both encodings whether used or not.
 */

interface Loaded {
  count(text: string): number;
  readonly split: RegExp;
}

const loaded = new Map<Encoding, Loaded>();
const loading = new Map<Encoding, Promise<void>>();

/*
 * Special-token text such as "<|endoftext|>" inside a prompt is ordinary text to the API (it is never parsed as a
 * control token), and the library would throw on it by default: an empty disallowed set counts it as text.
 */
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/*
 * The library memoises each merged piece (100k entries by default, ~35 MB under a stream of unique words).
 * 20k still catches the common words of a language and caps the cache near 7 MB of the isolate's 128 MB.
 */
const MERGE_CACHE_ENTRIES = 20_000;

async function build(encoding: Encoding): Promise<Loaded> {
  const [{ GptEncoding }, vocabulary] = await Promise.all([
    import("gpt-tokenizer/GptEncoding"),
    encoding === "o200k_base" ? import("js-tiktoken/ranks/o200k_base") : import("js-tiktoken/ranks/cl100k_base"),
  ]);
  const api = GptEncoding.getEncodingApi(encoding, () => decodeRanks(vocabulary.default.bpe_ranks));
  api.setMergeCacheSize(MERGE_CACHE_ENTRIES);
  return {
    count: (text) => api.countTokens(text, AS_PLAIN_TEXT),
    split: encoding === "o200k_base" ? O200K_TOKEN_SPLIT_REGEX : CL100K_TOKEN_SPLIT_REGEX,
  };
}

/**
 * Makes counting with `encoding` exact from then on. Idempotent and shared: concurrent callers await one build.
 * A failed build is forgotten so a later call retries; meanwhile counts stay the byte upper bound.
 */
export function loadEncoding(encoding: Encoding): Promise<void> {
  if (loaded.has(encoding)) return Promise.resolve();
  let pending = loading.get(encoding);
  if (pending === undefined) {
    pending = build(encoding).then(
      (ready) => {
        loaded.set(encoding, ready);
        loading.delete(encoding);
      },
      (error: unknown) => {
        loading.delete(encoding);
        throw error;
      },
    );
    loading.set(encoding, pending);
  }
  return pending;
}

/** Whether counts with `encoding` are exact now (else they are the UTF-8 byte upper bound). */
export function isEncodingLoaded(encoding: Encoding): boolean {
  return loaded.has(encoding);
}

/**
 * Tokens of `text` as the encoding splits it, with no chat framing. Exact once loadEncoding(encoding) has
 * resolved, except pieces longer than MAX_EXACT_PIECE (see segments.ts), which count as their byte length;
 * before loading, the UTF-8 byte length. Either way never below the true count, and never throws.
 */
export function countString(text: string, encoding: Encoding): number {
  if (text.length === 0) return 0;
  const tokenizer = loaded.get(encoding);
  if (tokenizer === undefined) return utf8Length(text);
  try {
    if (!mayHaveLongPiece(text, MAX_EXACT_PIECE)) return tokenizer.count(text);
    return countBySegments(text, tokenizer.split, tokenizer.count, MAX_EXACT_PIECE, utf8Length);
  } catch {
    return utf8Length(text);
  }
}
