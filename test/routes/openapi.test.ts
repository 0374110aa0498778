import { Validator } from "@seriousme/openapi-schema-validator";
import oas31 from "@seriousme/openapi-schema-validator/schemas/v3.1/schema.json";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { beforeAll, describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { call, chat, createKey, json } from "../helpers/gateway";

type Json = Record<string, any>;

/**
 * @seriousme/openapi-schema-validator reads its OAS 3.1 meta-schema from disk with node:fs, which workerd lacks.
 * This hands it the same file, bundled, compiled as the package compiles it (Ajv 2020, its formats, media-range
 * allowed); the validation itself (the meta-schema, then every $ref resolved) is the package's own.
 */
class BundledValidator extends Validator {
  getAjvValidator(version: string) {
    if (version !== "3.1") throw new Error(`only OpenAPI 3.1 is bundled, not ${version}`);
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    ajv.addFormat("media-range", true);
    return ajv.compile(oas31);
  }
}

const DOC_ID = "https://edgequota.test/openapi.json";
let doc: Json;
let ajv: Ajv2020;

/** A validator for components.schemas[name], its $refs resolved within the document. */
const conforms = (name: string, value: unknown) => {
  const validate = ajv.getSchema(`${DOC_ID}#/components/schemas/${name}`);
  if (!validate) throw new Error(`no schema ${name}`);
  const ok = validate(value);
  return ok ? true : validate.errors;
};

/** Hono's path spelling as OpenAPI's: `:name` → `{name}`, a trailing wildcard `/*` → `/{path}`. */
const openApiPathOf = (path: string) => path.replace(/:(\w+)(\{[^}]*\})?\??/g, "{$1}").replace(/\/\*$/, "/{path}");

beforeAll(async () => {
  const response = await call("/openapi.json", { token: null });
  expect(response.status).toBe(200);
  doc = await json(response);
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, DOC_ID);
});

describe("GET /openapi.json", () => {
  it("answers without credentials, as cacheable JSON", async () => {
    const response = await call("/openapi.json", { token: null });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(response.headers.get("cache-control")).toBe("public, max-age=300");
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.paths["/openapi.json"].get.security).toEqual([]);
    // Built once per isolate: the same bytes every time.
    expect(await response.text()).toBe(JSON.stringify(doc));
  });

  it("is a valid OpenAPI 3.1 document (meta-schema and every $ref)", async () => {
    const result = await new BundledValidator().validate(structuredClone(doc));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("the validator does reject a broken document", async () => {
    const broken = structuredClone(doc);
    broken.paths["/key/generate"].post.responses["200"].content["application/json"].schema = { $ref: "#/components/schemas/Nope" };
    expect((await new BundledValidator().validate(broken)).valid).toBe(false);
    const noInfo = structuredClone(doc);
    delete noInfo.info;
    expect((await new BundledValidator().validate(noInfo)).valid).toBe(false);
  });

  it("holds JSON Schema 2020-12 schemas that compile", () => {
    for (const [name, schema] of Object.entries(doc.components.schemas as Json)) {
      expect(ajv.validateSchema(schema), `${name}: ${JSON.stringify(ajv.errors)}`).toBe(true);
      expect(ajv.getSchema(`${DOC_ID}#/components/schemas/${name}`), name).toBeTypeOf("function");
    }
  });
});

describe("coverage", () => {
  const served = () =>
    app.routes.filter((route) => route.method !== "ALL").map((route) => ({ method: route.method.toLowerCase(), path: openApiPathOf(route.path) }));

  it("documents every route the app serves", () => {
    expect(served().length).toBeGreaterThan(40);
    const missing = served().filter(({ method, path }) => doc.paths[path]?.[method] === undefined).map(({ method, path }) => `${method.toUpperCase()} ${path}`);
    expect(missing).toEqual([]);
  });

  it("documents no route the app does not serve", () => {
    const routes = new Set(served().map(({ method, path }) => `${method} ${path}`));
    const documented = Object.entries(doc.paths as Json).flatMap(([path, item]) => Object.keys(item).filter((key) => key !== "parameters").map((method) => `${method} ${path}`));
    expect(documented.filter((route) => !routes.has(route))).toEqual([]);
  });

  it("documents both spellings of the proxy routes", () => {
    for (const path of ["/chat/completions", "/completions", "/embeddings", "/responses", "/messages", "/messages/count_tokens"]) {
      expect(doc.paths[`/v1${path}`]?.post, path).toBeDefined();
      expect(doc.paths[path]?.post, path).toBeDefined();
    }
    expect(doc.paths["/v1/models"].get).toBeDefined();
    expect(doc.paths["/models"].get).toBeDefined();
  });
});

describe("request schemas", () => {
  const requestSchema = (path: string) => doc.paths[path].post.requestBody.content["application/json"].schema;

  it("keep the proxy bodies open: unknown fields pass through", () => {
    for (const [path, name] of [["/v1/chat/completions", "ChatCompletionRequest"], ["/v1/messages", "MessagesRequest"]] as const) {
      expect(requestSchema(path)).toEqual({ $ref: `#/components/schemas/${name}` });
      const schema = doc.components.schemas[name];
      expect(schema.additionalProperties, name).toEqual({});
      expect(schema.properties.messages.items.additionalProperties, name).toEqual({});
      expect(schema.required).toEqual(expect.arrayContaining(["model", "messages"]));
    }
    const chatBody = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi", name: "x" }], temperature: 0.2, some_future_field: { a: 1 } };
    expect(conforms("ChatCompletionRequest", chatBody)).toBe(true);
    expect(conforms("ChatCompletionRequest", { messages: chatBody.messages })).not.toBe(true);
    const messagesBody = { model: "claude-sonnet-4-20250514", max_tokens: 10, messages: [{ role: "user", content: "hi" }], thinking: { type: "enabled", budget_tokens: 5 } };
    expect(conforms("MessagesRequest", messagesBody)).toBe(true);
    expect(conforms("MessagesRequest", { ...messagesBody, max_tokens: undefined })).not.toBe(true);
    expect(doc.components.schemas.MessagesRequest.required).toContain("max_tokens");
  });

  it("list /key/generate's fields, and only those", () => {
    expect(requestSchema("/key/generate")).toEqual({ $ref: "#/components/schemas/GenerateKeyRequest" });
    const schema = doc.components.schemas.GenerateKeyRequest;
    for (const field of ["tpm_limit", "rpm_limit", "max_parallel_requests", "max_budget", "budget_duration", "models", "team_id", "key_alias", "model_tpm_limit", "duration", "key", "max_wait_ms"]) {
      expect(schema.properties, field).toHaveProperty(field);
    }
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required ?? []).toEqual([]);
    expect(conforms("GenerateKeyRequest", { tpm_limit: 1000, metadata: { team: "a", nested: [1, { b: null }] } })).toBe(true);
    expect(conforms("GenerateKeyRequest", { tpm_limit: 1.5 })).not.toBe(true);
    expect(conforms("GenerateKeyRequest", { tpm_limits: 1000 })).not.toBe(true);
  });

  it("describe query strings as parameters, as the client sends them", () => {
    const parameters = doc.paths["/key/list"].get.parameters as Json[];
    const page = parameters.find((parameter) => parameter.name === "page")!;
    expect(page).toMatchObject({ in: "query", required: false, schema: { type: "integer", default: 1 } });
    expect(parameters.find((parameter) => parameter.name === "return_full_object")!.schema.enum).toEqual(["true", "false"]);
    expect((doc.paths["/team/info"].get.parameters as Json[]).find((parameter) => parameter.name === "team_id")!.required).toBe(true);
  });
});

describe("auth, errors and headers", () => {
  it("declares both credential schemes, and which key each route needs", () => {
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.components.securitySchemes.apiKeyHeader).toMatchObject({ type: "apiKey", in: "header", name: "x-api-key" });
    const both = [{ bearerAuth: [] }, { apiKeyHeader: [] }];
    expect(doc.paths["/v1/chat/completions"].post).toMatchObject({ security: both, "x-edgequota-auth": "virtual key" });
    expect(doc.paths["/key/generate"].post).toMatchObject({ security: both, "x-edgequota-auth": "master key" });
    expect(doc.paths["/key/info"].get["x-edgequota-auth"]).toBe("master or virtual key");
    expect(doc.paths["/health"].get.security).toEqual([]);
  });

  it("gives each dialect its error envelope", () => {
    const errorSchema = (path: string, status: number) => {
      const ref = doc.paths[path].post.responses[status].$ref as string;
      return doc.components.responses[ref.split("/").pop()!].content["application/json"].schema.$ref;
    };
    expect(errorSchema("/v1/chat/completions", 429)).toBe("#/components/schemas/OpenAIError");
    expect(errorSchema("/key/generate", 400)).toBe("#/components/schemas/OpenAIError");
    expect(errorSchema("/v1/messages", 429)).toBe("#/components/schemas/AnthropicError");
    expect(errorSchema("/messages/count_tokens", 400)).toBe("#/components/schemas/AnthropicError");
    for (const status of [400, 401, 403, 413, 429, 502, 503, 504]) expect(doc.paths["/v1/chat/completions"].post.responses[status], String(status)).toBeDefined();
    expect(doc.paths["/key/info"].get.responses[404]).toBeDefined();
  });

  it("documents the retry and rate-limit headers of a 429, and the call's headers on a proxy answer", () => {
    const openai429 = doc.components.responses.OpenAIError429.headers;
    const anthropic429 = doc.components.responses.AnthropicError429.headers;
    for (const name of ["retry-after", "retry-after-ms", "x-should-retry", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-requests"]) {
      expect(openai429, name).toHaveProperty(name);
      expect(anthropic429, name).toHaveProperty(name);
    }
    expect(anthropic429).toHaveProperty("anthropic-ratelimit-tokens-remaining");
    expect(openai429).not.toHaveProperty("anthropic-ratelimit-tokens-remaining");
    const chatOk = doc.paths["/v1/chat/completions"].post.responses[200];
    for (const name of ["x-ratelimit-limit-tokens", "x-litellm-response-cost", "x-litellm-call-id", "x-edgequota-queue-ms"]) expect(chatOk.headers, name).toHaveProperty(name);
    expect(chatOk.content).toHaveProperty("text/event-stream");
    expect(doc.paths["/v1/messages"].post.responses[200].headers).toHaveProperty("anthropic-ratelimit-requests-reset");
    const headerParameters = (path: string) => (doc.paths[path].post.parameters as Json[]).map((parameter) => doc.components.parameters[parameter.$ref.split("/").pop()].name);
    expect(headerParameters("/v1/chat/completions")).toEqual(expect.arrayContaining(["x-edgequota-max-wait-ms", "x-edgequota-end-user"]));
    expect(headerParameters("/v1/messages")).toEqual(expect.arrayContaining(["x-edgequota-max-wait-ms", "x-edgequota-end-user", "anthropic-version", "anthropic-beta"]));
  });
});

describe("the app's real answers conform to the document", () => {
  it("on the key routes, the proxy and the errors", async () => {
    const generated = await call("/key/generate", { body: { rpm_limit: 1, max_budget: 5, metadata: { owner: "openapi" } } });
    const key = await json(generated);
    expect(conforms("GenerateKeyResponse", key)).toBe(true);
    expect(conforms("KeyInfoResponse", await json(await call(`/key/info?key=${key.key}`)))).toBe(true);
    expect(conforms("ListKeysResponse", await json(await call("/key/list?return_full_object=true")))).toBe(true);

    const answer = await chat(key.key);
    expect(answer.status).toBe(200);
    expect(conforms("ChatCompletion", await json(answer))).toBe(true);
    const limited = await chat(key.key);
    expect(limited.status).toBe(429);
    const limitedBody = await json(limited);
    expect(limitedBody.error.limit).toBeDefined();
    expect(conforms("OpenAIError", limitedBody)).toBe(true);
    expect(conforms("SpendLogs", await json(await call(`/spend/logs?api_key=${key.key}`)))).toBe(true);

    expect(conforms("OpenAIError", await json(await call("/v1/chat/completions", { token: "sk-nope", body: {} })))).toBe(true);
    const anthropic = await call("/v1/messages", { token: "sk-nope", body: { model: "m", max_tokens: 1, messages: [{ role: "user", content: "x" }] } });
    expect(anthropic.status).toBe(401);
    expect(conforms("AnthropicError", await json(anthropic))).toBe(true);
  });

  it("on the team, customer, health and deployment routes", async () => {
    const team = await json(await call("/team/new", { body: { team_alias: "openapi", tpm_limit: 1000 } }));
    expect(conforms("TeamInfo", team)).toBe(true);
    await createKey({ team_id: team.team_id });
    expect(conforms("TeamInfoResponse", await json(await call(`/team/info?team_id=${team.team_id}`)))).toBe(true);
    expect(conforms("TeamList", await json(await call("/team/list")))).toBe(true);
    const user = await json(await call("/customer/new", { body: { user_id: `openapi-${crypto.randomUUID()}`, max_budget: 1 } }));
    expect(conforms("EndUserInfo", user)).toBe(true);
    expect(conforms("BlockEndUsersResponse", await json(await call("/customer/block", { body: { user_ids: [user.user_id] } })))).toBe(true);
    expect(conforms("EndUserList", await json(await call("/customer/list")))).toBe(true);
    expect(conforms("Health", await json(await call("/health", { token: null })))).toBe(true);
    expect(conforms("DeploymentList", await json(await call("/deployment/list")))).toBe(true);
  });
});
