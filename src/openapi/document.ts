import { z } from "zod";
import packageJson from "../../package.json";
import { ERRORS } from "../http/errors";
import { maxWaitMs, metadata } from "../schemas/common";
import { endUserId } from "../schemas/end-user-defaults";
import { keyInfoSchema, keyUsageSchema } from "../schemas/key";
import { spendLogSchema } from "../schemas/spend";
import { teamInfoSchema } from "../schemas/team";
import { endUserInfoSchema } from "../schemas/end-user";
import { routeTable, type Auth, type Dialect, type Named, type RouteDoc } from "./routes";
import { anthropicErrorSchema, limitDetailSchema, openAiErrorSchema } from "./schemas";

type Json = Record<string, unknown>;

const SCHEMAS = "#/components/schemas/";
const JSON_SCHEMA_OPTIONS = { target: "draft-2020-12", unrepresentable: "any" } as const;

/**
 * Sub-schemas several answers share, emitted once under components.schemas and referenced from the others.
 * JsonValue is the recursive `metadata` value: it needs a name of its own to be referenced at all.
 */
const SHARED_OUTPUTS: Named[] = [
  { name: "JsonValue", schema: metadata.valueType as z.ZodType },
  { name: "Usage", schema: keyUsageSchema },
  { name: "KeyInfo", schema: keyInfoSchema },
  { name: "TeamInfo", schema: teamInfoSchema },
  { name: "EndUserInfo", schema: endUserInfoSchema },
  { name: "SpendLog", schema: spendLogSchema },
  { name: "RateLimitDetail", schema: limitDetailSchema },
  { name: "OpenAIError", schema: openAiErrorSchema },
  { name: "AnthropicError", schema: anthropicErrorSchema },
];
const SHARED_INPUTS: Named[] = [{ name: "JsonValue", schema: metadata.valueType as z.ZodType }];

const header = (description: string, schema: Json = { type: "string" }) => ({ description, schema });
const OPENAI_RATE_LIMIT_HEADERS: Record<string, { description: string; schema: Json }> = {
  "x-ratelimit-limit-requests": header("The key's requests per window (rpm_limit); absent when it has none.", { type: "integer" }),
  "x-ratelimit-remaining-requests": header("Requests left in the key's window.", { type: "integer" }),
  "x-ratelimit-reset-requests": header('Until the request window frees up, as OpenAI writes durations ("1s", "6m0s").'),
  "x-ratelimit-limit-tokens": header("The key's tokens per window (tpm_limit); absent when it has none.", { type: "integer" }),
  "x-ratelimit-remaining-tokens": header("Tokens left in the key's window.", { type: "integer" }),
  "x-ratelimit-reset-tokens": header("Until the token window frees up."),
  "x-litellm-key-rpm-limit": header("LiteLLM's name for the key's rpm_limit.", { type: "integer" }),
  "x-litellm-key-tpm-limit": header("LiteLLM's name for the key's tpm_limit.", { type: "integer" }),
  "x-litellm-key-spend": header("The key's spend (USD), when it has a budget.", { type: "number" }),
  "x-litellm-key-max-budget": header("The key's max_budget (USD).", { type: "number" }),
};
const ANTHROPIC_RATE_LIMIT_HEADERS = Object.fromEntries(
  ["requests", "tokens", "input-tokens", "output-tokens"].flatMap((kind) => [
    [`anthropic-ratelimit-${kind}-limit`, header(`Anthropic's ${kind} limit: the key's window.`, { type: "integer" })],
    [`anthropic-ratelimit-${kind}-remaining`, header(`What is left of it.`, { type: "integer" })],
    [`anthropic-ratelimit-${kind}-reset`, header("When it frees up (RFC 3339).", { type: "string", format: "date-time" })],
  ]),
);
const RETRY_HEADERS = {
  "retry-after": header("Seconds until this request would fit; absent when it will not free up on its own.", { type: "integer" }),
  "retry-after-ms": header("The same in milliseconds (SDKs read it first).", { type: "integer" }),
  "x-should-retry": header("Whether retrying is worth it (false past about a minute, or never).", { type: "string", enum: ["true", "false"] }),
};
const CALL_HEADERS = {
  "x-litellm-call-id": header("The call's id (also request_id in /spend/logs)."),
  "x-litellm-response-cost": header("What the call cost (USD).", { type: "number" }),
  "x-edgequota-cost": header('"unknown" when the model has no price and the upstream reported no cost.', { type: "string", enum: ["unknown"] }),
  "x-edgequota-queue-ms": header("How long the call waited for capacity (ms); absent when it did not wait.", { type: "integer" }),
  "x-litellm-model-id": header("The deployment that served the call, for models with deployments."),
};
const HEADERS = {
  ...OPENAI_RATE_LIMIT_HEADERS,
  ...ANTHROPIC_RATE_LIMIT_HEADERS,
  ...RETRY_HEADERS,
  ...CALL_HEADERS,
  "x-edgequota-upstream-status": header("The status the upstream answered, on an upstream error passed through.", { type: "integer" }),
  "x-total-count": header("Items in all pages.", { type: "integer" }),
  "x-total-pages": header("Pages of `size` items.", { type: "integer" }),
};

const headerRefs = (names: Iterable<string>) => Object.fromEntries([...names].map((name) => [name, { $ref: `#/components/headers/${name}` }]));

/** A zod schema as a JSON Schema to embed in the document: the `$schema` and `$id` only a standalone schema has go. */
function embedded(schema: z.ZodType, io: "input" | "output"): Json {
  const { $schema: _schema, $id: _id, ...rest } = z.toJSONSchema(schema, { ...JSON_SCHEMA_OPTIONS, io }) as Json;
  if ("$defs" in rest) throw new Error("an embedded schema may not need $defs: register its recursive part by name");
  return rest;
}

/**
 * The named schemas of one direction, converted together so that a named schema used inside another becomes a
 * $ref to it. Requests are described as the client sends them (io "input": defaults optional, coerced query
 * values as their target type), answers as the gateway writes them (io "output").
 */
function componentSchemas(named: readonly Named[], io: "input" | "output"): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  const names = new Map<z.ZodType, string>();
  for (const { name, schema } of named) {
    const known = names.get(schema);
    if (known !== undefined && known !== name) throw new Error(`one schema under two names: ${known}, ${name}`);
    if (known === undefined && [...names.values()].includes(name)) throw new Error(`two schemas under one name: ${name}`);
    names.set(schema, name);
    registry.add(schema, { id: name });
  }
  const { schemas } = z.toJSONSchema(registry, { ...JSON_SCHEMA_OPTIONS, io, uri: (id) => SCHEMAS + id });
  const out: Record<string, Json> = {};
  for (const [name, schema] of Object.entries(schemas)) {
    const { $schema: _schema, $id: _id, ...rest } = schema as Json;
    if (name === "__shared") {
      // Recursive parts nobody named: hoisted next to the others under a name of their own.
      for (const [def, body] of Object.entries((rest.$defs ?? {}) as Record<string, Json>)) out[`${io}_${def}`] = body;
    } else {
      out[name] = rest;
    }
  }
  return rewriteRefs(out, (ref) => {
    const shared = /^#\/components\/schemas\/__shared#\/\$defs\/(.+)$/.exec(ref);
    return shared ? `${SCHEMAS}${io}_${shared[1]}` : ref;
  });
}

function rewriteRefs<T>(value: T, rewrite: (ref: string) => string): T {
  if (Array.isArray(value)) return value.map((item) => rewriteRefs(item, rewrite)) as T;
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, key === "$ref" && typeof item === "string" ? rewrite(item) : rewriteRefs(item, rewrite)]),
  ) as T;
}

/** The two directions share a few schemas (JsonValue); a name may appear in both only for the same schema. */
function merge(inputs: Record<string, Json>, outputs: Record<string, Json>): Record<string, Json> {
  for (const [name, schema] of Object.entries(inputs)) {
    if (name in outputs && JSON.stringify(outputs[name]) !== JSON.stringify(schema)) throw new Error(`schema name ${name} differs between requests and answers`);
  }
  return Object.fromEntries(Object.entries({ ...outputs, ...inputs }).sort(([a], [b]) => a.localeCompare(b)));
}

function queryParameters(query: z.ZodObject): Json[] {
  const schema = embedded(query, "input");
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries((schema.properties ?? {}) as Record<string, Json>).map(([name, property]) => ({
    name,
    in: "query",
    required: required.has(name),
    ...(typeof property.description === "string" ? { description: property.description } : {}),
    schema: property,
  }));
}

/** Hono's `:name` (optionally with a `{regex}`) as OpenAPI's `{name}`; a trailing wildcard `/*` as `/{path}`. */
export function openApiPath(path: string): string {
  return path.replace(/:(\w+)(\{[^}]*\})?\??/g, "{$1}").replace(/\/\*$/, "/{path}");
}

function pathParameters(path: string): Json[] {
  const named = [...path.matchAll(/:(\w+)/g)].map((match) => ({ name: match[1], in: "path", required: true, schema: { type: "string" } }));
  const wildcard = path.endsWith("/*") ? [{ name: "path", in: "path", required: true, description: "Any path below (it may contain /).", schema: { type: "string" } }] : [];
  return [...named, ...wildcard];
}

const CREDENTIALS = [{ bearerAuth: [] }, { apiKeyHeader: [] }];
const security = (auth: Auth) => (auth === "none" ? [] : CREDENTIALS);

const DIALECT_NAME: Record<Dialect, string> = { openai: "OpenAI", anthropic: "Anthropic" };
const errorResponseName = (dialect: Dialect, status: number) => `${DIALECT_NAME[dialect]}Error${status}`;
const ERROR_STATUSES = [400, 401, 403, 404, 413, 415, 429, 500, 502, 503, 504];

function errorResponses(): Record<string, Json> {
  const responses: Record<string, Json> = {};
  for (const dialect of ["openai", "anthropic"] as const) {
    for (const status of ERROR_STATUSES) {
      const codes = Object.entries(ERRORS).filter(([, entry]) => entry.status === status).map(([code]) => code);
      const limited = status === 429;
      responses[errorResponseName(dialect, status)] = {
        description: `${limitedText(status)}Codes: ${codes.join(", ") || "—"}.`,
        ...(limited
          ? { headers: headerRefs([...Object.keys(RETRY_HEADERS), ...Object.keys(OPENAI_RATE_LIMIT_HEADERS), ...(dialect === "anthropic" ? Object.keys(ANTHROPIC_RATE_LIMIT_HEADERS) : [])]) }
          : {}),
        content: { "application/json": { schema: { $ref: `${SCHEMAS}${DIALECT_NAME[dialect]}Error` } } },
      };
    }
    responses[`${DIALECT_NAME[dialect]}UpstreamError`] = {
      description:
        "An error the upstream answered, passed through with its status (its 5xx become 502; Anthropic's 529 stays 529) and its message " +
        "(credentials redacted); code is upstream_<status>, or upstream_rate_limited for the provider's own 429.",
      headers: headerRefs(["x-edgequota-upstream-status", "x-litellm-call-id"]),
      content: { "application/json": { schema: { $ref: `${SCHEMAS}${DIALECT_NAME[dialect]}Error` } } },
    };
  }
  return responses;
}

function limitedText(status: number): string {
  if (status === 429) return "A limit turned the call away: `error.limit` says which, the retry headers when it would fit. ";
  if (status === 404) return "Not found; also every management route while the management API is hidden. ";
  return "";
}

const parameters = (): Record<string, Json> => ({
  maxWaitMs: {
    name: "x-edgequota-max-wait-ms",
    in: "header",
    required: false,
    description: "How long this call may wait for capacity (ms) instead of a 429; without it each owner's max_wait_ms applies.",
    schema: embedded(maxWaitMs, "input"),
  },
  endUser: {
    name: "x-edgequota-end-user",
    in: "header",
    required: false,
    description: "The end user the call is made for, whatever the body says (OpenAI's `user`, Anthropic's metadata.user_id).",
    schema: embedded(endUserId, "input"),
  },
  anthropicVersion: { name: "anthropic-version", in: "header", required: false, description: "Anthropic's API version, forwarded.", schema: { type: "string", examples: ["2023-06-01"] } },
  anthropicBeta: { name: "anthropic-beta", in: "header", required: false, description: "Anthropic's beta features (comma-separated), forwarded.", schema: { type: "string" } },
});

function operation(route: RouteDoc): Json {
  const schemaRef = (named: Named) => ({ $ref: SCHEMAS + named.name });
  const successHeaders = [
    ...(route.metered ? [...Object.keys(CALL_HEADERS), ...Object.keys(OPENAI_RATE_LIMIT_HEADERS)] : []),
    ...(route.metered && route.dialect === "anthropic" ? Object.keys(ANTHROPIC_RATE_LIMIT_HEADERS) : []),
    ...(route.responseHeaders ?? []),
  ];
  const content: Json = Object.fromEntries((route.mediaTypes ?? ["application/json"]).map((type) => [type, { schema: schemaRef(route.response) }]));
  if (route.metered?.stream) content["text/event-stream"] = { schema: { type: "string", description: "Server-sent events, when the request sets stream: true." } };
  const responses: Json = {
    200: { description: route.summary, ...(successHeaders.length > 0 ? { headers: headerRefs(successHeaders) } : {}), content },
  };
  for (const status of route.errors) responses[status] = { $ref: `#/components/responses/${errorResponseName(route.dialect, status)}` };
  if (route.upstream) responses.default = { $ref: `#/components/responses/${DIALECT_NAME[route.dialect]}UpstreamError` };
  const parameters = [
    ...pathParameters(route.path),
    ...(route.query ? queryParameters(route.query) : []),
    ...(route.headers ?? []).map((name) => ({ $ref: `#/components/parameters/${name}` })),
  ];
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: [route.tag],
    security: security(route.auth),
    "x-edgequota-auth": route.auth,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body ? { requestBody: { required: true, content: { "application/json": { schema: schemaRef(route.body) } } } } : {}),
    responses,
  };
}

function build(): Json {
  const routes = routeTable();
  const inputs = [...SHARED_INPUTS, ...routes.flatMap((route) => (route.body ? [route.body] : []))];
  const outputs = [...SHARED_OUTPUTS, ...routes.map((route) => route.response)];
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) {
    const path = (paths[openApiPath(route.path)] ??= {});
    if (route.method in path) throw new Error(`${route.method.toUpperCase()} ${route.path} is listed twice`);
    path[route.method] = operation(route);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "edgequota",
      version: packageJson.version,
      description:
        "An OpenAI- and Anthropic-compatible LLM gateway with exact per-key TPM, RPM, concurrency and budget limits, and LiteLLM's " +
        "key, team, customer and spend APIs. The proxy endpoints validate only the fields they read; everything else passes through.",
    },
    tags: [
      { name: "OpenAI", description: "OpenAI's endpoints, each also served without /v1." },
      { name: "Anthropic", description: "Anthropic's Messages API; its errors and rate-limit headers are Anthropic's." },
      { name: "Keys", description: "LiteLLM's virtual key API." },
      { name: "Teams", description: "LiteLLM's team API." },
      { name: "Customers", description: "LiteLLM's customer (end user) API." },
      { name: "Spend", description: "Spend ledgers." },
      { name: "Deployments", description: "The upstream deployments' live state." },
      { name: "Alerts", description: "Alert delivery: the events the webhook never accepted." },
      { name: "Dashboard", description: "The web dashboard at /ui." },
      { name: "Meta", description: "Health and this document." },
    ],
    security: CREDENTIALS,
    paths,
    components: {
      schemas: merge(componentSchemas(inputs, "input"), componentSchemas(outputs, "output")),
      responses: errorResponses(),
      parameters: parameters(),
      headers: HEADERS,
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description: "Authorization: Bearer <key>: a virtual key (sk-...), or the master key on the management routes (x-edgequota-auth says which).",
        },
        apiKeyHeader: {
          type: "apiKey",
          in: "header",
          name: "x-api-key",
          description: "The same key in x-api-key, as Anthropic's SDKs send it (Azure's api-key header is accepted too). Send one credential: different ones are a 400.",
        },
      },
    },
  };
}

let document: Json | null = null;
let text: string | null = null;

/** Built once per isolate, on first use. */
export function openApiDocument(): Json {
  return (document ??= build());
}

export function openApiText(): string {
  return (text ??= JSON.stringify(openApiDocument()));
}
