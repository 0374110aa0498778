import { app } from "../../src/app";
import type { Bindings } from "../../src/bindings";
import { benchRoutes } from "./routes";

/**
 * The benchmark's Worker: the product unchanged, plus the comparison routes under /bench, and key and team objects
 * that also report their storage size and exact admission instants. `npm run bench` runs this entry
 * (bench/wrangler*.toml); deployments run src/index.ts.
 */
export default {
  fetch(request: Request, env: Bindings, ctx: ExecutionContext): Response | Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path.startsWith("/bench/")) return benchRoutes.fetch(request, env, ctx);
    const appEnv = distant(env);
    if (request.headers.get("x-bench-timing") === "1") return timed(request, appEnv, ctx);
    return app.fetch(request, appEnv, ctx);
  },
};

/**
 * For the queueing benchmark, on request only: the instant the call reached this Worker (after wrangler's local
 * proxy), as x-bench-arrived-at, so the trip from client to key object can be split at the front door.
 */
async function timed(request: Request, env: Bindings, ctx: ExecutionContext): Promise<Response> {
  const arrivedAt = Date.now();
  const response = await app.fetch(request, env, ctx);
  const headers = new Headers(response.headers);
  headers.set("x-bench-arrived-at", String(arrivedAt));
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/**
 * Simulated distance to the objects (the leases benchmark, bench/leases.mjs): with BENCH_OBJECT_DELAY_MS > 0 the
 * app gets an env whose object namespaces hand out stubs that wait that long before every method call is made, as
 * a front door far from the object waits for the trip there. The directory is never on the request path: left as
 * it is. The bench routes get the env unchanged (they read the objects' counters, not timed).
 */
type BenchBindings = Bindings & { BENCH_OBJECT_DELAY_MS?: string };

const DELAYED = ["KEYS", "TEAMS", "DEPLOYMENTS_LIMITS", "END_USERS"] as const;

/** One wrapped env per env object: src/config/config.ts caches the parsed config per env, so it must stay the same. */
const distantEnvs = new WeakMap<object, Bindings>();

function distant(env: BenchBindings): Bindings {
  const delayMs = Number(env.BENCH_OBJECT_DELAY_MS ?? 0);
  if (!(delayMs > 0)) return env;
  let wrapped = distantEnvs.get(env);
  if (!wrapped) {
    wrapped = { ...env };
    for (const name of DELAYED) wrapped[name] = delayedNamespace(env[name], delayMs);
    distantEnvs.set(env, wrapped);
  }
  return wrapped;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function delayedNamespace(namespace: DurableObjectNamespace, delayMs: number): DurableObjectNamespace {
  return new Proxy(namespace, {
    get(target, property) {
      const member = Reflect.get(target, property) as unknown;
      if (typeof member !== "function") return member;
      if (property === "get" || property === "getByName") {
        return (...args: unknown[]) => delayedStub(Reflect.apply(member as (...a: unknown[]) => unknown, target, args) as object, delayMs);
      }
      // idFromName, newUniqueId...: local, not a trip to the object; called on the namespace itself.
      return (...args: unknown[]) => Reflect.apply(member as (...a: unknown[]) => unknown, target, args);
    },
  });
}

function delayedStub(stub: object, delayMs: number): object {
  return new Proxy(stub, {
    get(target, property) {
      const member = Reflect.get(target, property) as unknown;
      // Symbols, `then` (await of the stub itself) and plain fields (id, name) are no calls to the object.
      if (typeof member !== "function" || typeof property === "symbol" || property === "then") return member;
      return async (...args: unknown[]) => {
        await sleep(delayMs);
        // Reflect.apply: an RPC stub would treat `.apply` as a remote method name.
        return Reflect.apply(member as (...a: unknown[]) => Promise<unknown>, target, args);
      };
    },
  });
}

export { DeploymentObject, DirectoryObject, EndUserObject } from "../../src/index";
export { KeyObject, TeamObject } from "./objects";
