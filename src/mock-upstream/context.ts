import type { MockControls } from "./controls";

/** Everything a route handler needs besides the parsed body. */
export interface MockContext {
  controls: MockControls;
  signal: AbortSignal;
  /** Headers for successful responses (e.g. the LiteLLM cost echo). */
  headers: Headers;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export function mockId(prefix: string): string {
  return `${prefix}${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
}
