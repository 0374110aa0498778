import { app } from "../../src/app";
import type { Bindings } from "../../src/bindings";
import { benchRoutes } from "./routes";

/**
 * The benchmark's Worker: the product unchanged, plus the comparison routes under /bench and a key object that
 * reports its storage size. `npm run bench` runs this entry (bench/wrangler*.toml); deployments run src/index.ts.
 */
export default {
  fetch(request: Request, env: Bindings, ctx: ExecutionContext): Response | Promise<Response> {
    const path = new URL(request.url).pathname;
    return path.startsWith("/bench/") ? benchRoutes.fetch(request, env, ctx) : app.fetch(request, env, ctx);
  },
};

export { DeploymentObject, DirectoryObject, EndUserObject, TeamObject } from "../../src/index";
export { KeyObject } from "./objects";
