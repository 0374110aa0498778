import { sleep } from "./sleep";

/**
 * Where an event sits in the stream. Truncation keeps `head` events, cuts the
 * `content` run after N events and never emits `tail` events (finish chunk,
 * usage, `[DONE]`), which is what a dropped upstream connection looks like.
 */
export type SsePhase = "head" | "content" | "tail";

export interface SseEvent {
  phase: SsePhase;
  /** Already-serialised `data:` payload. */
  data: string;
  /** Named event (`event:` line); the Responses API uses these, chat does not. */
  event?: string;
}

export interface SseOptions {
  chunkDelayMs: number;
  truncateAfter: number | null;
  signal: AbortSignal;
  headers: Headers;
}

const encoder = new TextEncoder();

export function formatSseEvent(event: SseEvent): string {
  const name = event.event === undefined ? "" : `event: ${event.event}\n`;
  return `${name}data: ${event.data}\n\n`;
}

export function sseStream(events: Iterator<SseEvent>, options: SseOptions): ReadableStream<Uint8Array> {
  const { signal, chunkDelayMs, truncateAfter } = options;
  let finished = false;
  let contentSent = 0;
  let onAbort: (() => void) | undefined;

  const release = (): void => {
    finished = true;
    if (onAbort) signal.removeEventListener("abort", onAbort);
  };

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        if (signal.aborted) {
          finished = true;
          controller.error(signal.reason);
          return;
        }
        onAbort = () => {
          if (finished) return;
          release();
          controller.error(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
      },
      async pull(controller) {
        if (finished) return;
        if (chunkDelayMs > 0) {
          try {
            await sleep(chunkDelayMs, signal);
          } catch {
            // The abort listener has already errored the stream.
            return;
          }
          if (finished) return;
        }
        const next = events.next();
        if (next.done) {
          release();
          controller.close();
          return;
        }
        const event = next.value;
        if (
          truncateAfter !== null &&
          (event.phase === "tail" || (event.phase === "content" && contentSent >= truncateAfter))
        ) {
          release();
          controller.close();
          return;
        }
        if (event.phase === "content") contentSent += 1;
        controller.enqueue(encoder.encode(formatSseEvent(event)));
        // Close right after the Nth chunk rather than on the next pull so the
        // consumer sees EOF without waiting out another chunk delay.
        if (truncateAfter !== null && event.phase === "content" && contentSent >= truncateAfter) {
          release();
          controller.close();
        }
      },
      cancel() {
        release();
      },
    },
    // Produce only on demand: a consumer that stops reading stops generation.
    { highWaterMark: 0 },
  );
}

export function sseResponse(events: Iterator<SseEvent>, options: SseOptions): Response {
  const headers = new Headers(options.headers);
  headers.set("content-type", "text/event-stream");
  headers.set("cache-control", "no-cache");
  return new Response(sseStream(events, options), { status: 200, headers });
}
