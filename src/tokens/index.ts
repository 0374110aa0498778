/**
 * Exact prompt token counts for models whose tokenizer is public (OpenAI's o200k_base and cl100k_base families),
 * bounds for the rest. Pure: no I/O, no bindings; the only asynchronous step is loading a vocabulary.
 *
 *   const encoding = encodingFor(model, config.modelTokenizers);
 *   if (encoding !== null) {
 *     await loadEncoding(encoding); // once per isolate; until it resolves, counts are the byte upper bound
 *     const tokens = chatPromptTokens(body, encoding);
 *   }
 */
export { ENCODINGS, encodingFor, modelTokenizersSchema, type Encoding, type ModelTokenizers } from "./encoding";
export { isEncodingLoaded, loadEncoding } from "./tokenizer";
export {
  chatPromptTokens,
  countText,
  IMAGE_TOKENS,
  lowerBoundTokens,
  MAX_TOKEN_BYTES,
  responsesPromptTokens,
  textPromptTokens,
  type CountOptions,
} from "./count";
export { toolsPromptTokens } from "./tools";
export { MAX_EXACT_PIECE } from "./segments";
