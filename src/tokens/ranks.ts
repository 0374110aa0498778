/**
 * Decodes js-tiktoken's compact vocabulary text into the rank table gpt-tokenizer's engine takes.
 *
 * Why two packages: gpt-tokenizer counts 5-8x faster, uses a quarter of the memory and degrades far less on
 * long runs, but ships its vocabularies as JS array literals (about 300k string literals). V8 must parse those
 * when the Worker starts, even behind a dynamic import: in workerd that added about a second to every isolate's
 * startup (the platform limit is 1 s, and the Durable Objects share the script). js-tiktoken ships the same
 * vocabularies as one string per encoding, which parses for almost nothing; decoding it happens on first use.
 */

/** One rank's bytes: the string they decode to when they are valid UTF-8, else the raw bytes. */
export type RankEntry = string | number[];

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_VALUES = new Uint8Array(128);
for (let index = 0; index < BASE64.length; index++) BASE64_VALUES[BASE64.charCodeAt(index)] = index;

function base64Bytes(text: string): Uint8Array {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) end--;
  const bytes = new Uint8Array((end * 3) >> 2);
  let written = 0;
  let buffer = 0;
  let bits = 0;
  for (let index = 0; index < end; index++) {
    buffer = ((buffer << 6) | (BASE64_VALUES[text.charCodeAt(index) & 127] ?? 0)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[written++] = (buffer >> bits) & 0xff;
    }
  }
  return bytes;
}

/*
 * fatal: a token that is not valid UTF-8 (a fragment of a multi-byte character) must stay bytes, as the engine
 * looks such pieces up by bytes. ignoreBOM: without it the decoder silently drops a leading U+FEFF, and the nine
 * tokens that start with a BOM ("\uFEFFusing", ...) would be stored under the wrong string. gpt-tokenizer's own
 * tables keep those nine as bytes, which makes it count a BOM as two tokens where tiktoken counts one; decoding
 * them as strings matches tiktoken (checked against js-tiktoken's engine).
 */
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Lines of "<marker> <first rank> <base64 token> <base64 token> ...", ranks consecutive within a line. */
export function decodeRanks(compact: string): RankEntry[] {
  const ranks: RankEntry[] = [];
  for (const line of compact.split("\n")) {
    const fields = line.split(" ");
    const first = Number.parseInt(fields[1] ?? "", 10);
    if (!Number.isInteger(first)) continue;
    for (let index = 2; index < fields.length; index++) {
      const bytes = base64Bytes(fields[index] ?? "");
      let entry: RankEntry;
      try {
        entry = utf8.decode(bytes);
      } catch {
        entry = Array.from(bytes);
      }
      ranks[first + index - 2] = entry;
    }
  }
  return ranks;
}
