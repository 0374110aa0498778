import type { Encoding } from "./encoding";
import { utf8Length } from "./segments";
import { countString } from "./tokenizer";

/**
 * Tokens of a value's JSON serialisation: the fallback for every part of a request whose rendering we do not
 * model (tool calls, unknown content parts, malformed fields). Request bodies come from JSON.parse, which
 * accepts nesting far deeper than JSON.stringify's recursion survives, so stringify can throw: the value is then
 * bounded by its serialised byte length, computed without recursion.
 */
export function jsonTokens(value: unknown, encoding: Encoding): number {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    return jsonBytesOrMax(value);
  }
  return text === undefined ? 0 : countString(text, encoding);
}

/** jsonBytes, or a count no limit admits for a value that cannot be walked (a throwing getter or proxy). */
export function jsonBytesOrMax(value: unknown): number {
  try {
    return jsonBytes(value);
  } catch {
    return Number.MAX_SAFE_INTEGER;
  }
}

/**
 * At least the UTF-8 length of JSON.stringify(value), for any value: iterative, so depth is no limit, and a
 * cycle (impossible from JSON.parse, but the input is untyped) is cut where it closes.
 */
export function jsonBytes(value: unknown): number {
  let bytes = 0;
  const stack: unknown[] = [value];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === "string") bytes += utf8Length(JSON.stringify(item));
    else if (typeof item === "number" || typeof item === "bigint" || typeof item === "boolean") {
      // NaN and Infinity serialise as null: never count fewer than its 4 bytes.
      bytes += Math.max(4, String(item).length);
    } else if (typeof item === "object" && item !== null && !seen.has(item)) {
      seen.add(item);
      if (Array.isArray(item)) {
        bytes += 2 + item.length;
        for (const element of item as unknown[]) stack.push(element);
      } else {
        const entries = Object.entries(item);
        bytes += 2 + entries.length;
        for (const [key, child] of entries) {
          bytes += utf8Length(JSON.stringify(key)) + 1;
          stack.push(child);
        }
      }
    } else bytes += 4;
  }
  return bytes;
}
