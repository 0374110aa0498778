import { costOf } from "../../src/limiter";
import { priceOf } from "../../src/pricing/price-of";
import { estimatePrompt } from "../../src/upstream/prompt";

/** The test helper `chat()`'s default request, and what admission reserves for it. */
export const MESSAGES = [{ role: "user", content: "hello" }];
export const MAX_TOKENS = 10;
/** The prompt as the front door counts it for gpt-4o-mini (its tokenizer is public: an exact count). */
export const PROMPT_ESTIMATE = estimatePrompt({ kind: "chat", messages: MESSAGES }, "gpt-4o-mini", {}).promptTokens;
export const ESTIMATE = PROMPT_ESTIMATE + MAX_TOKENS;
export const PRICE = priceOf("gpt-4o-mini", {})!;
/** Worst-case cost (nano-dollars) reserved for that request. */
export const ESTIMATE_COST = costOf(PRICE, PROMPT_ESTIMATE, MAX_TOKENS);
