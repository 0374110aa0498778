import { ENCODINGS, type Encoding } from "./encoding";
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
 * The library memoises each merged piece (100k entries by default, ~35 MB under a stream of unique words).
 * 20k still catches the common words of a language and caps the cache near 7 MB of the isolate's 128 MB.
 */
const MERGE_CACHE_ENTRIES = 20_000;

/*
 * The engine alone (BytePairEncodingCore with the library's own split regex and special tokens), not its
 * GptEncoding facade, which would bundle ~100 KB gzip of model and price tables we do not use.
 */
async function build(encoding: Encoding): Promise<Loaded> {
  const [{ BytePairEncodingCore }, params, vocabulary] = await Promise.all([
    import("gpt-tokenizer/BytePairEncodingCore"),
    encoding === "o200k_base"
      ? import("gpt-tokenizer/encodingParams/o200k_base").then((module) => module.O200KBase)
      : import("gpt-tokenizer/encodingParams/cl100k_base").then((module) => module.Cl100KBase),
    encoding === "o200k_base" ? import("js-tiktoken/ranks/o200k_base") : import("js-tiktoken/ranks/cl100k_base"),
  ]);
  const config = params(decodeRanks(vocabulary.default.bpe_ranks));
  const core = new BytePairEncodingCore({ ...config, mergeCacheSize: MERGE_CACHE_ENTRIES });
  // No allowed special tokens: "<|endoftext|>" inside a prompt is plain text to the API, and counts as such.
  return { count: (text) => core.countNative(text), split: config.tokenSplitRegex };
}

/**
 * Makes counting with `encoding` exact from then on. Idempotent and shared: concurrent callers await one build.
 * A failed build is forgotten so a later call retries; meanwhile counts stay the byte upper bound.
 */
export function loadEncoding(encoding: Encoding): Promise<void> {
  if (loaded.has(encoding)) return Promise.resolve();
  if (!(ENCODINGS as readonly string[]).includes(encoding)) {
    return Promise.reject(new Error(`unknown encoding ${String(encoding)}`));
  }
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
