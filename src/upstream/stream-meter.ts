import type { TokenSplit } from "../limiter";
import type { StreamUsage, UsageReader } from "./usage";

export interface StreamResult {
  /** The stream's whole usage as the upstream reported it, or null when it ended without reporting all of it. */
  readonly usage: TokenSplit | null;
  /** What it had reported before it ended early (Anthropic's message_start: the input, not the output). */
  readonly partial: TokenSplit | null;
  /** Upper-ish count of generated tokens seen, for settling a stream that never reported usage. */
  readonly streamedTokens: number;
  /** The stream reached its natural end (not cut by upstream, timeout or client). */
  readonly complete: boolean;
}

interface MeterOptions {
  /** How this API's stream events report usage and generated text. */
  readonly reader: UsageReader;
  /** Remove the usage-only chunk: the gateway asked for it, the client did not. */
  readonly stripUsageChunk: boolean;
  /** Called as generated text arrives, with the output tokens streamed so far (an upper-ish count). */
  readonly onProgress?: (streamedTokens: number) => void;
  /** Settles the call; the returned promise is part of `done`, so waitUntil covers it. */
  readonly onEnd: (result: StreamResult) => Promise<unknown>;
}

const encoder = new TextEncoder();

/**
 * Forwards an SSE body line by line as it arrives and reads `data:` events on the side: usage, and how much
 * text was generated. Every complete line goes out as soon as it is read; nothing waits for the whole answer.
 */
export function meterStream(body: ReadableStream<Uint8Array>, options: MeterOptions): { readable: ReadableStream<Uint8Array>; done: Promise<void> } {
  const decoder = new TextDecoder();
  let pending = "";
  let seen: StreamUsage | null = null;
  let contentChunks = 0;
  let contentBytes = 0;
  let dropBlank = false;
  let sawDone = false;
  let ended: Promise<unknown> | null = null;
  const streamed = () => Math.max(contentChunks, Math.ceil(contentBytes / 4));
  const end = (complete: boolean): Promise<unknown> => {
    if (ended) return ended;
    const usage = seen?.final ? seen.usage : null;
    const partial = seen && !seen.final ? seen.usage : null;
    return (ended = options.onEnd({ usage, partial, streamedTokens: streamed(), complete: complete && (sawDone || usage !== null) }));
  };

  const lineOut = (line: string): string | null => {
    if (dropBlank && line.trim() === "") {
      dropBlank = false;
      return null;
    }
    dropBlank = false;
    if (!line.startsWith("data:")) return line;
    const data = line.slice(5).trim();
    if (data === "[DONE]") {
      sawDone = true;
      return line;
    }
    let event: unknown;
    try {
      event = JSON.parse(data);
    } catch {
      return line;
    }
    const before = seen;
    seen = options.reader.event(event, seen);
    const reported = seen !== before && seen?.final === true;
    const text = options.reader.generated(event);
    if (text) {
      contentChunks++;
      contentBytes += encoder.encode(text).length;
      options.onProgress?.(streamed());
    }
    const record = event as { choices?: unknown[]; usage?: unknown };
    if (options.stripUsageChunk && reported && "usage" in record) {
      // OpenAI sends usage in its own chunk with no choices: drop it. Some upstreams (LiteLLM) attach it to a
      // chunk that also carries content or finish_reason: keep that chunk, without the usage.
      if (Array.isArray(record.choices) && record.choices.length === 0) {
        dropBlank = true;
        return null;
      }
      delete record.usage;
      return `data: ${JSON.stringify(record)}`;
    }
    return line;
  };

  const transform = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      let out = "";
      for (const line of lines) {
        const kept = lineOut(line);
        if (kept !== null) out += `${kept}\n`;
      }
      if (out) controller.enqueue(encoder.encode(out));
    },
    flush(controller) {
      pending += decoder.decode();
      if (pending) {
        const kept = lineOut(pending);
        if (kept !== null) controller.enqueue(encoder.encode(kept));
      }
      void end(true);
    },
  });
  const done = body.pipeTo(transform.writable).then(
    () => end(false),
    () => end(false),
  );
  return { readable: transform.readable, done: done.then(() => undefined) };
}
