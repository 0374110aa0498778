import type { Snapshot } from "../limiter";

/**
 * Tokens each key had free when this isolate last admitted one of its calls. Only a hint for skipping work
 * (tokenizing a prompt whose byte bound fits easily): the key's object decides every admission. Keys with a
 * budget give no hint, since their money reservation is sized from the prompt and should stay tight.
 */
const rooms = new Map<string, number>();
const MAX_KEYS = 10_000;

export function rememberRoom(token: string, snapshot: Snapshot): void {
  const { tokensLimit, tokens } = snapshot.window;
  rooms.delete(token);
  if (snapshot.budget.max !== null) return;
  rooms.set(token, tokensLimit === null ? Number.POSITIVE_INFINITY : Math.max(0, tokensLimit - tokens));
  if (rooms.size > MAX_KEYS) rooms.delete(rooms.keys().next().value!);
}

export function roomOf(token: string): number | null {
  return rooms.get(token) ?? null;
}
