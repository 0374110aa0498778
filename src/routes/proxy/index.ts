import { Hono } from "hono";
import type { AppEnv } from "../../http/app-env";
import { chatCompletions, completions, embeddings, messages, responses } from "../../upstream/endpoints";
import { countTokens } from "./count-tokens";
import { models } from "./models";
import { proxy } from "./proxy";

/** OpenAI's endpoints and Anthropic's Messages API, each also without /v1 as LiteLLM serves them. */
export const proxyRoutes = new Hono<AppEnv>().route("/", models);
proxyRoutes.post("/v1/messages/count_tokens", countTokens);
proxyRoutes.post("/messages/count_tokens", countTokens);
for (const endpoint of [chatCompletions, completions, embeddings, responses, messages]) {
  const handler = proxy(endpoint as never);
  proxyRoutes.post(`/v1${endpoint.path}`, handler);
  proxyRoutes.post(endpoint.path, handler);
}
