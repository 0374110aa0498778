import { describe, expect, it } from "vitest";
import { DEFAULT_TOLERANCE_SECONDS, sign, verify } from "../../src/alerts/signature";

const SECRET = "whsec_test";
const TS = 1_767_225_600; // 2026-01-01T00:00:00Z
const BODY = '{"id":"evt-1"}';

/** The HMAC computed here, independently of src/alerts/signature.ts. */
async function expectedHex(secret: string, payload: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(payload)));
  return Array.from(mac, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

describe("sign", () => {
  it("is t=<ts>,v1=<hex HMAC-SHA256 of '<ts>.<body>'>", async () => {
    const header = await sign(BODY, SECRET, TS);
    expect(header).toBe(`t=${TS},v1=${await expectedHex(SECRET, `${TS}.${BODY}`)}`);
    // The same vector computed outside the runtime (Python: hmac.new(b"whsec_test", b'1767225600.{"id":"evt-1"}', sha256)).
    expect(header).toBe("t=1767225600,v1=7e38bb3fe8e8ae9e57cb46a061ce2c86771d851e2bdd45196549c84ba00e74cb");
  });

  it("signs the exact bytes: unicode bodies included", async () => {
    const body = '{"alias":"équipe ☕"}';
    expect(await sign(body, SECRET, TS)).toBe(`t=${TS},v1=${await expectedHex(SECRET, `${TS}.${body}`)}`);
  });

  it("refuses a timestamp that is not whole seconds", async () => {
    await expect(sign(BODY, SECRET, 1.5)).rejects.toThrow(RangeError);
    await expect(sign(BODY, SECRET, Date.now() / 1000 + 0.25)).rejects.toThrow(RangeError);
  });
});

describe("verify", () => {
  it("accepts its own signature, at the time and within the tolerance either way", async () => {
    const header = await sign(BODY, SECRET, TS);
    expect(await verify(header, BODY, SECRET, TS)).toBe(true);
    expect(await verify(header, BODY, SECRET, TS + DEFAULT_TOLERANCE_SECONDS)).toBe(true);
    expect(await verify(header, BODY, SECRET, TS - DEFAULT_TOLERANCE_SECONDS)).toBe(true);
  });

  it("rejects a tampered body", async () => {
    const header = await sign(BODY, SECRET, TS);
    expect(await verify(header, '{"id":"evt-2"}', SECRET, TS)).toBe(false);
    expect(await verify(header, `${BODY} `, SECRET, TS)).toBe(false);
  });

  it("rejects an old timestamp (a replay), and one from too far ahead", async () => {
    const header = await sign(BODY, SECRET, TS);
    expect(await verify(header, BODY, SECRET, TS + DEFAULT_TOLERANCE_SECONDS + 1)).toBe(false);
    expect(await verify(header, BODY, SECRET, TS + 3600)).toBe(false);
    expect(await verify(header, BODY, SECRET, TS - DEFAULT_TOLERANCE_SECONDS - 1)).toBe(false);
    expect(await verify(header, BODY, SECRET, TS + 30, 10)).toBe(false);
  });

  it("rejects a timestamp swapped into a valid signature (the timestamp is signed too)", async () => {
    const header = await sign(BODY, SECRET, TS);
    const moved = header.replace(`t=${TS}`, `t=${TS + 600}`);
    expect(await verify(moved, BODY, SECRET, TS + 600)).toBe(false);
  });

  it("rejects the wrong secret", async () => {
    const header = await sign(BODY, SECRET, TS);
    expect(await verify(header, BODY, "whsec_other", TS)).toBe(false);
    expect(await verify(await sign(BODY, "whsec_other", TS), BODY, SECRET, TS)).toBe(false);
  });

  it("rejects malformed headers", async () => {
    const v1 = await expectedHex(SECRET, `${TS}.${BODY}`);
    for (const header of ["", `v1=${v1}`, `t=${TS}`, `t=abc,v1=${v1}`, `t=${TS},v1=${v1.slice(0, 62)}`, `t=${TS},v1=${v1}zz`, `t=${TS},v0=${v1}`, `t=-${TS},v1=${v1}`]) {
      expect(await verify(header, BODY, SECRET, TS), header).toBe(false);
    }
  });

  it("accepts any matching v1 among several, ignores unknown schemes and spaces, and is case-insensitive in hex", async () => {
    const v1 = await expectedHex(SECRET, `${TS}.${BODY}`);
    const other = await expectedHex("old-secret", `${TS}.${BODY}`);
    expect(await verify(`t=${TS},v1=${other},v1=${v1}`, BODY, SECRET, TS)).toBe(true);
    expect(await verify(` t=${TS} , v2=xyz , v1=${v1.toUpperCase()}`, BODY, SECRET, TS)).toBe(true);
  });
});
