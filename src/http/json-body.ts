import type { Context } from "hono";
import { z } from "zod";
import { ApiError, badRequest } from "./errors";

/**
 * Reads the body as JSON within the size limit and validates it. Every failure is a 4xx naming what is wrong,
 * never a 500: the body is the client's input.
 */
export async function readJson(c: Context, maxBytes: number): Promise<unknown> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type.trim())) {
    throw new ApiError("unsupported_media_type", "Content-Type must be application/json.");
  }
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const raw = await readLimited(c.req.raw, maxBytes);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(raw);
  } catch {
    throw badRequest("invalid_json", "Request body is not valid UTF-8.");
  }
  if (text.trim() === "") throw badRequest("invalid_json", "Request body is empty; expected a JSON object.");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw badRequest("invalid_json", `Request body is not valid JSON: ${(error as Error).message}`);
  }
  const tooDeep = fieldNestingTooDeep(value);
  if (tooDeep !== undefined) {
    throw badRequest("invalid_request", `Request body nests deeper than ${MAX_NESTING} levels${tooDeep === null ? "" : ` in ${tooDeep}`}.`, tooDeep);
  }
  return value;
}

/** No real request nests this deep; deeper input would only exhaust the stack of recursive validators. */
const MAX_NESTING = 64;

/**
 * The top-level field under which the value nests deeper than MAX_NESTING (null: the body itself), or
 * undefined when it does not. Walked without recursion so hostile input cannot overflow the stack.
 */
function fieldNestingTooDeep(root: unknown): string | null | undefined {
  const stack: Array<[value: unknown, depth: number, field: string | null]> = [[root, 1, null]];
  while (stack.length > 0) {
    const [value, depth, field] = stack.pop()!;
    if (typeof value !== "object" || value === null) continue;
    if (depth > MAX_NESTING) return field;
    if (Array.isArray(value)) for (const child of value) stack.push([child, depth + 1, field]);
    else for (const [name, child] of Object.entries(value)) stack.push([child, depth + 1, field ?? name]);
  }
  return undefined;
}

export async function parseBody<S extends z.ZodType>(c: Context, schema: S, maxBytes: number): Promise<z.infer<S>> {
  return validate(schema, await readJson(c, maxBytes));
}

export function validate<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const first = parsed.error.issues[0];
  const param = first && first.path.length > 0 ? first.path.join(".") : null;
  throw badRequest("invalid_request", `Invalid request: ${describeIssues(parsed.error)}`, param);
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
    .join("; ");
}

const tooLarge = (maxBytes: number) =>
  new ApiError("request_too_large", `Request body exceeds the ${maxBytes}-byte limit.`);

async function readLimited(request: Request, maxBytes: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
