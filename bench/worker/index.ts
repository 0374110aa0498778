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
    if (request.headers.get("x-bench-timing") === "1") return timed(request, env, ctx);
    return app.fetch(request, env, ctx);
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

export { DeploymentObject, DirectoryObject, EndUserObject } from "../../src/index";
export { KeyObject, TeamObject } from "./objects";
