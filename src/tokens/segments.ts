/**
 * Counting long inputs in bounded time.
 *
 * A BPE tokenizer first splits text into pieces with a regex (words, number groups, punctuation runs, whitespace
 * runs), then merges each piece's bytes separately. The merge is quadratic in the piece's length: in
 * gpt-tokenizer a 10 kB run of one letter takes about 0.2 s and 100 kB about 15 s (js-tiktoken is ~200x worse),
 * so a 1 MB prompt of "aaaa..." would pin a Worker for minutes. Natural text has short pieces; only such runs
 * (one repeated character, a long whitespace block, an unbroken CJK paragraph) are long.
 *
 * Pieces longer than MAX_EXACT_PIECE are therefore not merged: they count as their UTF-8 byte length, a proven
 * upper bound (merging starts from one token per byte and only ever joins tokens). Everything else is counted
 * exactly, so the total is exact for natural text and an upper bound otherwise, never below the true count.
 */

/** UTF-16 code units. A piece this long takes about 0.5-2 ms to merge; below it cost is linear in practice. */
export const MAX_EXACT_PIECE = 256;

/** JavaScript's \s (what the split regexes use), by char code. */
function isWhitespace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0xa0) return false;
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/**
 * False only when no split piece can exceed maxPiece, so the library may take the whole text in one call.
 * Every piece of the o200k and cl100k split regexes is at most one leading character plus a run of
 * non-whitespace, a run of whitespace, or a non-whitespace run followed by a run of [\r\n/]; a piece longer than
 * maxPiece thus contains a run of at least (maxPiece - 1) / 2 characters of one of those three classes.
 */
export function mayHaveLongPiece(text: string, maxPiece: number): boolean {
  const threshold = Math.max(1, Math.floor((maxPiece - 1) / 2));
  let solid = 0;
  let blank = 0;
  let breaks = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (isWhitespace(code)) {
      blank++;
      solid = 0;
    } else {
      solid++;
      blank = 0;
    }
    breaks = code === 0x0a || code === 0x0d || code === 0x2f ? breaks + 1 : 0;
    if (solid >= threshold || blank >= threshold || breaks >= threshold) return true;
  }
  return false;
}

/**
 * The token count of text, merging only pieces up to maxPiece long and bounding the longer ones with
 * longPiece. Runs of short pieces go to count in one call, cut just before a long piece.
 *
 * Why a cut keeps the count exact: the split regexes have no lookbehind, so a segment splits the same way as
 * the full text from its first piece on. At its end, though, the regexes see end-of-input where the full text
 * had more, and `\s+$` / `\s+(?!\S)` then match differently: cl100k splits "a  \n " + "bbb" as
 * ["a", "  \n", " ", "bbb"] but the segment "a  \n " alone as ["a", "  \n "]. Those alternatives need
 * whitespace up to the end of input, so a segment that ends with a non-whitespace character splits exactly as
 * in the full text, and the pieces after that point (each ending in whitespace) are counted one by one: a single
 * piece, taken alone, is again matched whole by the same alternative.
 */
export function countBySegments(
  text: string,
  split: RegExp,
  count: (text: string) => number,
  maxPiece: number,
  longPiece: (piece: string) => number,
): number {
  const pieces = new RegExp(split.source, split.flags.includes("g") ? split.flags : `${split.flags}g`);
  let total = 0;
  let segmentStart = 0;
  let safeEnd = 0;
  // [start, end) of the pieces after safeEnd, each ending in whitespace.
  const trailing: number[] = [];
  for (let match = pieces.exec(text); match !== null; match = pieces.exec(text)) {
    const piece = match[0];
    const start = match.index;
    const end = start + piece.length;
    if (piece.length === 0) {
      pieces.lastIndex++;
      continue;
    }
    if (piece.length > maxPiece) {
      if (safeEnd > segmentStart) total += count(text.slice(segmentStart, safeEnd));
      for (let index = 0; index < trailing.length; index += 2) {
        total += count(text.slice(trailing[index], trailing[index + 1]));
      }
      trailing.length = 0;
      total += longPiece(piece);
      segmentStart = safeEnd = end;
    } else if (isWhitespace(piece.charCodeAt(piece.length - 1))) {
      trailing.push(start, end);
    } else {
      safeEnd = end;
      trailing.length = 0;
    }
  }
  // The last segment runs to the true end of the text, where the full text's split ends too.
  if (text.length > segmentStart) total += count(text.slice(segmentStart));
  return total;
}

/** UTF-8 length without allocating an encoded copy; a lone surrogate counts 3 bytes, as TextEncoder writes it. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && index + 1 < text.length) {
      const next = text.charCodeAt(index + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        index++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
