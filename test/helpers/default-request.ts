import { costOf } from "../../src/limiter";
import { priceOf } from "../../src/pricing/price-of";
import { countPromptTokens } from "../../src/mock-upstream";
import { estimatePrompt, tokenizerFor, type PromptInput } from "../../src/upstream/prompt";

/** The test helper `chat()`'s default request, and what admission reserves for it. */
export const MESSAGES = [{ role: "user", content: "hello" }];
export const MAX_TOKENS = 10;
/** The prompt as the front door counts it for gpt-4o-mini (its tokenizer is public: an exact count). */
export const PROMPT_ESTIMATE = estimatePrompt({ kind: "chat", messages: MESSAGES }, await tokenizerFor("gpt-4o-mini", {})).promptTokens;
export const ESTIMATE = PROMPT_ESTIMATE + MAX_TOKENS;
export const PRICE = (await priceOf("gpt-4o-mini", {}))!.price;
/** Worst-case cost (nano-dollars) reserved for that request. */
export const ESTIMATE_COST = costOf(PRICE, { prompt: PROMPT_ESTIMATE, completion: MAX_TOKENS });

/** What the front door reserves for a prompt sent to `model`: the tokenizer's count for OpenAI models, else the byte bound. */
export async function promptEstimateOf(input: PromptInput, model = "gpt-4o-mini"): Promise<number> {
  return estimatePrompt(input, await tokenizerFor(model, {})).promptTokens;
}

/** The same for a chat's messages. */
export const chatPrompt = (messages: unknown, model = "gpt-4o-mini") => promptEstimateOf({ kind: "chat", messages }, model);

/** The prompt tokens the embedded mock reports for `body` (it never reports more than an OpenAI model's tokenizer count). */
export async function mockPromptTokens(body: Record<string, unknown>, path: string): Promise<number> {
  if (typeof body.model === "string") await tokenizerFor(body.model, {});
  return countPromptTokens(body, path);
}
