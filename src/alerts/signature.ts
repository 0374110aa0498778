/**
 * The webhook signature, Stripe's scheme: the consumer sends
 *
 *   x-edgequota-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under ALERT_WEBHOOK_SECRET>
 *
 * The timestamp is signed with the body, so a receiver that checks both the HMAC and that `t` is recent (within
 * five minutes) rejects tampered bodies and replays of old deliveries alike; a replay inside the window carries an
 * event id the receiver has already seen (de-duplicate by id). A receiver verifies with the exact bytes it received,
 * before parsing them. Several v1= entries may appear (any one matching is enough), and unknown schemes are
 * ignored, so the scheme can rotate secrets or add one later without breaking receivers.
 *
 * Only Web Crypto is used, so `verify` runs unchanged in Node 20+, Deno, Bun, browsers and Workers; the README
 * shows it for receivers to copy.
 */

export const SIGNATURE_HEADER = "x-edgequota-signature";

/** How far a signature's timestamp may be from the receiver's clock, by default (seconds). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

const encoder = new TextEncoder();

function hmacKey(secret: string, usage: "sign" | "verify"): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [usage]);
}

const hex = (bytes: ArrayBuffer): string => [...new Uint8Array(bytes)].map((byte) => byte.toString(16).padStart(2, "0")).join("");

/** The header value for `body` signed at `timestampSeconds` (whole Unix seconds). */
export async function sign(body: string, secret: string, timestampSeconds: number): Promise<string> {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) throw new RangeError("timestampSeconds must be a whole, non-negative number of seconds");
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(secret, "sign"), encoder.encode(`${timestampSeconds}.${body}`));
  return `t=${timestampSeconds},v1=${hex(mac)}`;
}

/**
 * Whether `header` is a valid signature of `body` under `secret`, made at most `toleranceSeconds` away from
 * `nowSeconds`. The HMAC is compared by crypto.subtle.verify, in constant time; a malformed header, a timestamp
 * out of tolerance (either way), a different body or secret are all simply false.
 */
export async function verify(header: string, body: string, secret: string, nowSeconds: number, toleranceSeconds = DEFAULT_TOLERANCE_SECONDS): Promise<boolean> {
  let timestamp: string | undefined;
  const candidates: string[] = [];
  for (const part of header.split(",")) {
    const at = part.indexOf("=");
    if (at < 0) continue;
    const [name, value] = [part.slice(0, at).trim(), part.slice(at + 1).trim()];
    if (name === "t") timestamp = value;
    else if (name === "v1") candidates.push(value);
  }
  if (timestamp === undefined || !/^[0-9]{1,15}$/.test(timestamp)) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const key = await hmacKey(secret, "verify");
  const signed = encoder.encode(`${timestamp}.${body}`);
  for (const candidate of candidates) {
    if (!/^[0-9a-f]{64}$/i.test(candidate)) continue;
    const mac = new Uint8Array(candidate.match(/../g)!.map((pair) => parseInt(pair, 16)));
    if (await crypto.subtle.verify("HMAC", key, mac, signed)) return true;
  }
  return false;
}
