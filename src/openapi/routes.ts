import type { z } from "zod";
import { deadLettersQuerySchema, deadLettersSchema } from "../schemas/alerts";
import { countTokensRequestSchema } from "../schemas/anthropic";
import {
  endUserIdsRequestSchema,
  endUserInfoQuerySchema,
  endUserInfoSchema,
  listEndUsersQuerySchema,
  newEndUserRequestSchema,
  updateEndUserRequestSchema,
} from "../schemas/end-user";
import {
  deleteKeyRequestSchema,
  generateKeyRequestSchema,
  generateKeyResponseSchema,
  keyActionRequestSchema,
  keyInfoQuerySchema,
  keyInfoResponseSchema,
  listKeysQuerySchema,
  listKeysResponseSchema,
  updateKeyRequestSchema,
} from "../schemas/key";
import { spendLogsQuerySchema } from "../schemas/spend";
import { deleteTeamRequestSchema, newTeamRequestSchema, teamInfoQuerySchema, teamInfoResponseSchema, teamInfoSchema, updateTeamRequestSchema } from "../schemas/team";
import { chatCompletions, completions, embeddings, messages, responses } from "../upstream/endpoints";
import {
  blockEndUsersResponseSchema,
  chatCompletionSchema,
  completionSchema,
  countTokensResponseSchema,
  deleteEndUsersResponseSchema,
  deleteKeysResponseSchema,
  deleteTeamsResponseSchema,
  deploymentListSchema,
  embeddingSchema,
  endUserListSchema,
  healthSchema,
  messageSchema,
  modelListSchema,
  openApiDocumentSchema,
  responseSchema,
  spendLogsSchema,
  teamListSchema,
  uiFileSchema,
  uiSessionSchema,
  unblockEndUsersResponseSchema,
} from "./schemas";

/**
 * Every route the app serves, as the OpenAPI document describes it. The schemas are the ones the routes validate
 * with (src/schemas/*.ts), so the document cannot drift from them; the test checks that app.routes and this table
 * name the same routes.
 */

/** Who may call: a virtual key (sk-..., or the master key), only the master key, either, or anyone. */
export type Auth = "virtual key" | "master key" | "master or virtual key" | "none";
export type Tag = "OpenAI" | "Anthropic" | "Keys" | "Teams" | "Customers" | "Spend" | "Deployments" | "Alerts" | "Dashboard" | "Meta";
export type Dialect = "openai" | "anthropic";

/** A schema under the name it has in components.schemas. */
export interface Named {
  readonly name: string;
  readonly schema: z.ZodType;
}

export interface RouteDoc {
  readonly method: "get" | "post";
  /** Hono's spelling (`:param`); the document writes `{param}`. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: Tag;
  readonly auth: Auth;
  /** The shape of its errors: Anthropic's on /v1/messages*, OpenAI's everywhere else. */
  readonly dialect: Dialect;
  readonly body?: Named;
  readonly query?: z.ZodObject;
  readonly response: Named;
  /** Names of components.headers its success answer carries. */
  readonly responseHeaders?: readonly string[];
  /** The gateway's own error statuses; 429 carries the retry and rate-limit headers. */
  readonly errors: readonly number[];
  /** A metered proxy call: admitted against the limits, forwarded, rate-limit headers on the answer. */
  readonly metered?: { readonly stream: boolean };
  /** Forwarded upstream: the upstream's own errors pass through with their status (the `default` answer). */
  readonly upstream?: boolean;
  /** Names of components.parameters (request headers) it reads. */
  readonly headers?: readonly string[];
  /** The media types of its success answer; JSON when not given. */
  readonly mediaTypes?: readonly string[];
}

const named = (name: string, schema: z.ZodType): Named => ({ name, schema });

const MANAGEMENT_BODY_ERRORS = [400, 401, 403, 404, 413, 415, 503];
const MANAGEMENT_QUERY_ERRORS = [400, 401, 403, 404, 503];
const METERED_ERRORS = [400, 401, 403, 413, 415, 429, 502, 503, 504];

const MASTER = "Needs the master key. Hidden (404) when MANAGEMENT_API=off or the host is not in MANAGEMENT_HOSTNAMES.";

/** The OpenAI endpoints and Anthropic's Messages API, each served at /v1/x and /x (LiteLLM's two spellings). */
function proxyRoutes(): RouteDoc[] {
  const metered = [
    { endpoint: chatCompletions, id: "createChatCompletion", summary: "Chat completion", request: "ChatCompletionRequest", answer: named("ChatCompletion", chatCompletionSchema), stream: true },
    { endpoint: completions, id: "createCompletion", summary: "Text completion (legacy)", request: "CompletionRequest", answer: named("Completion", completionSchema), stream: true },
    { endpoint: embeddings, id: "createEmbedding", summary: "Embeddings", request: "EmbeddingRequest", answer: named("Embedding", embeddingSchema), stream: false },
    { endpoint: responses, id: "createResponse", summary: "Responses API", request: "ResponseRequest", answer: named("ResponseObject", responseSchema), stream: true },
    { endpoint: messages, id: "createMessage", summary: "Anthropic Messages API", request: "MessagesRequest", answer: named("Message", messageSchema), stream: true },
  ];
  const routes: RouteDoc[] = [];
  for (const { endpoint, id, summary, request, answer, stream } of metered) {
    const anthropic = endpoint.dialect === "anthropic";
    const doc: Omit<RouteDoc, "path" | "operationId"> = {
      method: "post",
      summary,
      description:
        "Only the fields the gateway reads are validated; every other field passes through to the upstream untouched. " +
        "The call is admitted against the key's, team's, end user's and deployment's limits first (429 when it does not fit), " +
        "then forwarded; its real usage settles afterwards.",
      tag: anthropic ? "Anthropic" : "OpenAI",
      auth: "virtual key",
      dialect: endpoint.dialect,
      body: named(request, endpoint.schema),
      response: answer,
      errors: METERED_ERRORS,
      metered: { stream },
      upstream: true,
      headers: ["maxWaitMs", "endUser", ...(anthropic ? ["anthropicVersion", "anthropicBeta"] : [])],
    };
    routes.push(...spellings(`/v1${endpoint.path}`, id, doc));
  }
  routes.push(
    ...spellings("/v1/messages/count_tokens", "countMessageTokens", {
      method: "post",
      summary: "Count the tokens of a Messages prompt",
      description: "Passed through to Anthropic: the key must be valid and allowed the model, but the call reserves and costs nothing.",
      tag: "Anthropic",
      auth: "virtual key",
      dialect: "anthropic",
      body: named("CountTokensRequest", countTokensRequestSchema),
      response: named("CountTokensResponse", countTokensResponseSchema),
      errors: [400, 401, 403, 413, 415, 502, 503, 504],
      upstream: true,
      headers: ["anthropicVersion", "anthropicBeta"],
    }),
    ...spellings("/v1/models", "listModels", {
      method: "get",
      summary: "List the models this key may use",
      description: "The upstream's model list, narrowed to the key's (and its team's) allowed models. Not rate limited.",
      tag: "OpenAI",
      auth: "virtual key",
      dialect: "openai",
      response: named("ModelList", modelListSchema),
      errors: [401, 403, 502, 503, 504],
    }),
  );
  return routes;
}

/** A /v1 route and its spelling without /v1, which LiteLLM also serves. */
function spellings(path: string, operationId: string, doc: Omit<RouteDoc, "path" | "operationId">): RouteDoc[] {
  const bare = path.replace(/^\/v1/, "");
  return [
    { ...doc, path, operationId },
    { ...doc, path: bare, operationId: `${operationId}Unversioned`, summary: `${doc.summary} (without /v1)`, description: `Same as ${doc.method.toUpperCase()} ${path}. ${doc.description ?? ""}`.trim() },
  ];
}

const keyInfoResponse = named("KeyInfoResponse", keyInfoResponseSchema);
const generateKeyResponse = named("GenerateKeyResponse", generateKeyResponseSchema);
const teamInfo = named("TeamInfo", teamInfoSchema);
const endUserInfo = named("EndUserInfo", endUserInfoSchema);
const keyAction = named("KeyActionRequest", keyActionRequestSchema);
const endUserIds = named("EndUserIdsRequest", endUserIdsRequestSchema);

function master(method: "get" | "post", path: string, operationId: string, tag: Tag, summary: string, parts: Pick<RouteDoc, "body" | "query" | "response" | "responseHeaders"> & { description?: string }): RouteDoc {
  return {
    method,
    path,
    operationId,
    summary,
    description: parts.description ? `${parts.description} ${MASTER}` : MASTER,
    tag,
    auth: "master key",
    dialect: "openai",
    errors: method === "post" ? MANAGEMENT_BODY_ERRORS : MANAGEMENT_QUERY_ERRORS,
    ...parts,
  };
}

function managementRoutes(): RouteDoc[] {
  return [
    master("post", "/key/generate", "generateKey", "Keys", "Create a virtual key", {
      description: "LiteLLM's fields; fields not given take their defaults (no limits, every model).",
      body: named("GenerateKeyRequest", generateKeyRequestSchema),
      response: generateKeyResponse,
    }),
    {
      method: "get",
      path: "/key/info",
      operationId: "keyInfo",
      summary: "A key's settings and live usage",
      description: "The master key names any key with ?key=; a virtual key reads only itself (with or without ?key=).",
      tag: "Keys",
      auth: "master or virtual key",
      dialect: "openai",
      query: keyInfoQuerySchema,
      response: keyInfoResponse,
      errors: MANAGEMENT_QUERY_ERRORS,
    },
    master("post", "/key/update", "updateKey", "Keys", "Change a key's settings", {
      description: "Changes the fields sent and keeps the others; `duration` restarts the expiry clock (null: never expires).",
      body: named("UpdateKeyRequest", updateKeyRequestSchema),
      response: keyInfoResponse,
    }),
    master("post", "/key/delete", "deleteKeys", "Keys", "Delete keys", {
      description: "By secret or token (`keys`) or by alias (`key_aliases`); all or nothing.",
      body: named("DeleteKeyRequest", deleteKeyRequestSchema),
      response: named("DeleteKeysResponse", deleteKeysResponseSchema),
    }),
    master("get", "/key/list", "listKeys", "Keys", "List keys", {
      description: "Hashed tokens by default; full objects with live usage when return_full_object=true.",
      query: listKeysQuerySchema,
      response: named("ListKeysResponse", listKeysResponseSchema),
    }),
    master("post", "/key/block", "blockKey", "Keys", "Block a key", { body: keyAction, response: keyInfoResponse }),
    master("post", "/key/unblock", "unblockKey", "Keys", "Unblock a key", { body: keyAction, response: keyInfoResponse }),
    master("post", "/key/regenerate", "regenerateKey", "Keys", "Give a key a new secret", {
      description: "Same settings, spend and windows; the old secret stops working at once.",
      body: keyAction,
      response: generateKeyResponse,
    }),
    master("post", "/team/new", "newTeam", "Teams", "Create a team", { body: named("NewTeamRequest", newTeamRequestSchema), response: teamInfo }),
    master("get", "/team/info", "teamInfo", "Teams", "A team's settings, live usage and keys", {
      query: teamInfoQuerySchema,
      response: named("TeamInfoResponse", teamInfoResponseSchema),
    }),
    master("post", "/team/update", "updateTeam", "Teams", "Change a team's settings", { body: named("UpdateTeamRequest", updateTeamRequestSchema), response: teamInfo }),
    master("post", "/team/delete", "deleteTeams", "Teams", "Delete teams", {
      description: "All or nothing; a team that still has keys is not deleted.",
      body: named("DeleteTeamRequest", deleteTeamRequestSchema),
      response: named("DeleteTeamsResponse", deleteTeamsResponseSchema),
    }),
    master("get", "/team/list", "listTeams", "Teams", "List teams with their live usage", { response: named("TeamList", teamListSchema) }),
    master("post", "/customer/new", "newEndUser", "Customers", "Register an end user (customer) with its own limits", {
      body: named("NewEndUserRequest", newEndUserRequestSchema),
      response: endUserInfo,
    }),
    master("get", "/customer/info", "endUserInfo", "Customers", "An end user's settings and live usage", { query: endUserInfoQuerySchema, response: endUserInfo }),
    master("post", "/customer/update", "updateEndUser", "Customers", "Change an end user's settings", {
      body: named("UpdateEndUserRequest", updateEndUserRequestSchema),
      response: endUserInfo,
    }),
    master("post", "/customer/delete", "deleteEndUsers", "Customers", "Delete end users", {
      body: endUserIds,
      response: named("DeleteEndUsersResponse", deleteEndUsersResponseSchema),
    }),
    master("get", "/customer/list", "listEndUsers", "Customers", "List end users", {
      description: "A plain array, as LiteLLM answers; the paging totals travel in x-total-count and x-total-pages.",
      query: listEndUsersQuerySchema,
      response: named("EndUserList", endUserListSchema),
      responseHeaders: ["x-total-count", "x-total-pages"],
    }),
    master("post", "/customer/block", "blockEndUsers", "Customers", "Block end users", { body: endUserIds, response: named("BlockEndUsersResponse", blockEndUsersResponseSchema) }),
    master("post", "/customer/unblock", "unblockEndUsers", "Customers", "Unblock end users", {
      body: endUserIds,
      response: named("UnblockEndUsersResponse", unblockEndUsersResponseSchema),
    }),
    {
      method: "get",
      path: "/spend/logs",
      operationId: "spendLogs",
      summary: "A key's or an end user's spend ledger, newest first",
      description: "The master key reads any key's log (?api_key=) or an end user's (?end_user_id=); a virtual key reads its own.",
      tag: "Spend",
      auth: "master or virtual key",
      dialect: "openai",
      query: spendLogsQuerySchema,
      response: named("SpendLogs", spendLogsSchema),
      errors: MANAGEMENT_QUERY_ERRORS,
    },
    master("get", "/deployment/list", "listDeployments", "Deployments", "Every upstream deployment with its live state", {
      description: "Each DEPLOYMENTS entry with its window's usage, what remains of its limits, calls in flight and waiting, and its cool-down.",
      response: named("DeploymentList", deploymentListSchema),
    }),
    master("get", "/alerts/dead-letters", "listDeadAlerts", "Alerts", "Alerts whose delivery was given up, newest first", {
      description:
        "Each alert event the webhook (ALERT_WEBHOOK_URL) kept refusing through the queue's retries, with how often it reached the " +
        "dead-letter queue. x-total-count is the number kept (the newest 10,000).",
      query: deadLettersQuerySchema,
      response: named("DeadLetters", deadLettersSchema),
      responseHeaders: ["x-total-count"],
    }),
  ];
}

/** The dashboard: static files (no data, no credential) hidden like the management API, and who it is signed in as. */
function dashboardRoutes(): RouteDoc[] {
  const file = named("DashboardFile", uiFileSchema);
  const page = (path: string, operationId: string, summary: string): RouteDoc => ({
    method: "get",
    path,
    operationId,
    summary,
    description: "A static file of the dashboard; it holds no data. Hidden (404) like the management API.",
    tag: "Dashboard",
    auth: "none",
    dialect: "openai",
    response: file,
    mediaTypes: ["text/html", "text/javascript", "text/css"],
    errors: [404, 500],
  });
  return [
    page("/ui", "dashboard", "The dashboard"),
    page("/ui/", "dashboardIndex", "The dashboard (with a trailing slash)"),
    {
      method: "get",
      path: "/ui/session",
      operationId: "dashboardSession",
      summary: "Who the dashboard is signed in as",
      description: "The master key, or a virtual key that may call at all (its own page only).",
      tag: "Dashboard",
      auth: "master or virtual key",
      dialect: "openai",
      response: named("DashboardSession", uiSessionSchema),
      errors: [401, 403, 404, 503],
    },
    page("/ui/*", "dashboardFile", "A file of the dashboard (any path under /ui/)"),
  ];
}

function metaRoutes(): RouteDoc[] {
  return [
    {
      method: "get",
      path: "/health",
      operationId: "health",
      summary: "Liveness, and whether an upstream is configured",
      tag: "Meta",
      auth: "none",
      dialect: "openai",
      response: named("Health", healthSchema),
      errors: [],
    },
    {
      method: "get",
      path: "/openapi.json",
      operationId: "openApiDocument",
      summary: "This OpenAPI document",
      tag: "Meta",
      auth: "none",
      dialect: "openai",
      response: named("OpenApiDocument", openApiDocumentSchema),
      errors: [],
    },
  ];
}

/** Built on first use, with the document. */
export function routeTable(): RouteDoc[] {
  return [...proxyRoutes(), ...managementRoutes(), ...dashboardRoutes(), ...metaRoutes()];
}
