/** Virtual key secrets: "sk-" plus 192 random bits, base64url. Only their SHA-256 is ever stored. */
export function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `sk-${btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}

const encoder = new TextEncoder();

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Constant-time equality. Both sides are hashed first so the comparison never leaks the secret's length
 * and always runs over 32 bytes.
 */
export async function secretsEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}

/** LiteLLM shows keys as "sk-...abcd" in lists and dashboards. */
export function maskSecret(secret: string): string {
  return `sk-...${secret.slice(-4)}`;
}

export const TOKEN_PATTERN = /^[0-9a-f]{64}$/;
