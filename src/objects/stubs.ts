import type { Bindings } from "../config/bindings";
import type { KeyIndexObject } from "./key-index-object";
import type { KeyObject } from "./key-object";

/**
 * A Durable Object's RPC surface as plain async methods. Workers' own `Rpc.Stub` mapped type is exact but too
 * deep for TypeScript on our result types, and our results are plain data, so this projection loses nothing.
 */
export type Client<T, M extends keyof T> = {
  [K in M]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

type KeyMethods = "create" | "exists" | "view" | "update" | "destroy" | "moveTo" | "adopt" | "authenticate" | "admit" | "finish" | "withdraw" | "spendLog";
export type KeyClient = Client<KeyObject, KeyMethods>;
export type KeyIndexClient = Client<KeyIndexObject, "put" | "remove" | "list">;

/** Every key lives in the object named by the SHA-256 of its secret, so any front door finds the same one. */
export const keyObject = (env: Bindings, token: string): KeyClient =>
  env.KEYS.get(env.KEYS.idFromName(token)) as unknown as KeyClient;

/** The key directory is a single object: it is only touched by the management API. */
export const keyIndex = (env: Bindings): KeyIndexClient =>
  env.KEY_INDEX.get(env.KEY_INDEX.idFromName("directory")) as unknown as KeyIndexClient;
