// Shared by the end-to-end files that drive a real `wrangler dev`: management calls with a bounded timeout, and
// polling for something that happens asynchronously (settlements, deliveries) with a deadline.

/** A management API call against `baseUrl`: GET without a body, POST with one; answers status and parsed body. */
export async function management(baseUrl, path, body, token) {
  const response = await fetch(baseUrl + path, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text === "" ? null : JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed, text };
}

/** Polls `check` until it returns something truthy, or fails naming `what` after `timeoutMs`. */
export async function until(check, what, timeoutMs = 30_000, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
