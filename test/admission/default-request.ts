import { costOf } from "../../src/limiter";
import { priceOf } from "../../src/pricing/price-of";
import { promptUpperBound } from "../../src/upstream/estimate";

/** The test helper `chat()`'s default request, and what admission reserves for it. */
export const MESSAGES = [{ role: "user", content: "hello" }];
export const MAX_TOKENS = 10;
export const PROMPT_ESTIMATE = promptUpperBound(MESSAGES);
export const ESTIMATE = PROMPT_ESTIMATE + MAX_TOKENS;
export const PRICE = priceOf("gpt-4o-mini", {})!;
/** Worst-case cost (nano-dollars) reserved for that request. */
export const ESTIMATE_COST = costOf(PRICE, PROMPT_ESTIMATE, MAX_TOKENS);
