import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { chatCompletions, completions, embeddings, responses } from "../../upstream/endpoints";
import { models } from "./models";
import { proxy } from "./proxy";

/** OpenAI's endpoints, each also without /v1 as LiteLLM serves them. */
export const proxyRoutes = new Hono<AppEnv>().route("/", models);
for (const endpoint of [chatCompletions, completions, embeddings, responses]) {
  const handler = proxy(endpoint as never);
  proxyRoutes.post(`/v1${endpoint.path}`, handler);
  proxyRoutes.post(endpoint.path, handler);
}
