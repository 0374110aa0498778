import { z } from "zod";

/** The public OpenAI vocabularies this module can count with. */
export const ENCODINGS = ["o200k_base", "cl100k_base"] as const;
export type Encoding = (typeof ENCODINGS)[number];

/**
 * Operator config MODEL_TOKENIZERS: exact model name -> encoding, for models the built-in families below do not
 * cover (an Azure deployment named "prod-chat", a self-hosted gpt-oss under another name). An unknown encoding
 * name is rejected here, at config time, rather than silently falling back to the byte bound per request.
 */
export const modelTokenizersSchema = z.record(z.string().min(1).max(256), z.enum(ENCODINGS));
export type ModelTokenizers = z.infer<typeof modelTokenizersSchema>;

// Checked in order: the gpt-4 entries must come before the plain gpt-4 rule, which would otherwise claim them.
const FAMILIES: readonly (readonly [RegExp, Encoding])[] = [
  [/^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5)(?![0-9a-z])/, "o200k_base"],
  [/^gpt-5(?![0-9])/, "o200k_base"],
  [/^o[134](?![0-9a-z])/, "o200k_base"],
  [/^gpt-oss(?![0-9a-z])/, "o200k_base"],
  [/^gpt-4(?![0-9a-z.])/, "cl100k_base"],
  // Azure names the 3.5 family without the dot.
  [/^gpt-3\.?5-turbo(?![0-9a-z])/, "cl100k_base"],
  [/^text-embedding-3-/, "cl100k_base"],
  [/^text-embedding-ada-002(?![0-9a-z])/, "cl100k_base"],
];

function isEncoding(value: unknown): value is Encoding {
  return typeof value === "string" && (ENCODINGS as readonly string[]).includes(value);
}

/**
 * The model OpenAI serves under a routed name: "openrouter/openai/gpt-4o" -> "gpt-4o",
 * "ft:gpt-4o-mini:acme::abc123" -> "gpt-4o-mini", "openai.gpt-oss-120b-1:0" (Bedrock) -> "gpt-oss-120b-1:0".
 * Dated snapshots need no stripping: the family rules match on the prefix.
 */
function baseModel(model: string): string {
  let name = model.trim().toLowerCase();
  const slash = name.lastIndexOf("/");
  if (slash >= 0) name = name.slice(slash + 1);
  if (name.startsWith("ft:")) name = name.slice(3).split(":", 1)[0] ?? "";
  if (name.startsWith("openai.")) name = name.slice("openai.".length);
  return name;
}

/**
 * The vocabulary a model's prompts are tokenized with, or null when it is not public (claude-*, llama, mistral,
 * unknown deployments): callers then keep the byte bound. An override wins over the built-in families so an
 * operator can correct a misclassified name; an override whose value is not a known encoding is ignored here
 * (config validation with modelTokenizersSchema rejects it first).
 */
export function encodingFor(model: string, overrides: Readonly<Record<string, string>>): Encoding | null {
  if (typeof model !== "string") return null;
  if (overrides !== null && typeof overrides === "object" && Object.hasOwn(overrides, model)) {
    const override = overrides[model];
    if (isEncoding(override)) return override;
  }
  const name = baseModel(model);
  for (const [pattern, encoding] of FAMILIES) if (pattern.test(name)) return encoding;
  return null;
}
