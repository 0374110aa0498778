/** Request headers that let tests and benchmarks steer the mock. */
export interface MockControls {
  latencyMs: number;
  chunkDelayMs: number;
  status: number | null;
  truncateAfter: number | null;
  omitUsage: boolean;
  responseCost: string | null;
}

const MAX_DELAY_MS = 60_000;

function nonNegativeInt(raw: string | null): number | null {
  if (raw === null) return null;
  const trimmed = raw.trim();
  if (!/^\d+$/.test(trimmed)) return null;
  return Number(trimmed);
}

function delay(raw: string | null): number {
  const value = nonNegativeInt(raw);
  // Clamped so a typo cannot park a worker longer than a minute.
  return value === null ? 0 : Math.min(value, MAX_DELAY_MS);
}

function faultStatus(raw: string | null): number | null {
  const value = nonNegativeInt(raw);
  // Only error statuses: a "fault" of 200 would silently bypass the handler.
  return value !== null && value >= 400 && value <= 599 ? value : null;
}

function responseCost(raw: string | null): string | null {
  if (raw === null) return null;
  const trimmed = raw.trim();
  // Echo verbatim (like LiteLLM) but only if a consumer could parse it as a number.
  return trimmed !== "" && Number.isFinite(Number(trimmed)) ? trimmed : null;
}

export function parseMockControls(headers: Headers): MockControls {
  const omit = headers.get("x-mock-omit-usage")?.trim().toLowerCase();
  return {
    latencyMs: delay(headers.get("x-mock-latency-ms")),
    chunkDelayMs: delay(headers.get("x-mock-chunk-delay-ms")),
    status: faultStatus(headers.get("x-mock-status")),
    truncateAfter: nonNegativeInt(headers.get("x-mock-stream-truncate-after")),
    omitUsage: omit === "true" || omit === "1",
    responseCost: responseCost(headers.get("x-mock-response-cost")),
  };
}

/** Headers added to every successful mock response. */
export function successHeaders(controls: MockControls): Headers {
  const headers = new Headers();
  if (controls.responseCost !== null) headers.set("x-litellm-response-cost", controls.responseCost);
  return headers;
}
