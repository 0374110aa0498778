import type { Context } from "hono";
import { sha256Hex } from "../../crypto/secret";
import { servesDialect } from "../../config/deployments";
import type { AppEnv } from "../../http/app-env";
import { credential } from "../../http/credentials";
import { parseBody } from "../../http/json-body";
import { refusalError } from "../../http/limit-error";
import { modelAllowed } from "../../objects/limits";
import { countTokensRequestSchema } from "../../schemas/anthropic";
import { keyObject, teamObject } from "../../stubs";
import { callUpstream, failureError, UpstreamFailure } from "../../upstream/forward";
import { upstreamError } from "../../upstream/upstream-error";
import { targetOf } from "./forward-call";

/**
 * Anthropic's POST /v1/messages/count_tokens, passed through: the key must be valid and allowed the model (its
 * own allow-list and its team's), but the call reserves and costs nothing, as at Anthropic.
 */
export async function countTokens(c: Context<AppEnv>): Promise<Response> {
  const config = c.var.config;
  const secret = credential(c);
  const body = await parseBody(c, countTokensRequestSchema, config.maxBodyBytes);
  const auth = await keyObject(c.env, await sha256Hex(secret)).authenticate();
  if (!auth.ok) throw refusalError(auth.refusal);
  if (!modelAllowed(auth.record.models, body.model)) {
    throw refusalError({ code: "model_not_allowed", message: `This key may not use model '${body.model}'. Allowed: ${auth.record.models.join(", ")}.` });
  }
  if (auth.record.team_id !== null) {
    const team = (await teamObject(c.env, auth.record.team_id).view())?.record;
    if (!team) throw refusalError({ code: "team_not_found", message: "The key's team no longer exists." });
    if (team.blocked) throw refusalError({ code: "team_blocked", message: `Team '${team.team_id}' is blocked.` });
    if (!modelAllowed(team.models, body.model)) {
      throw refusalError({ code: "team_model_not_allowed", message: `Team '${team.team_id}' may not use model '${body.model}'.` });
    }
  }
  // A model with deployments is counted by the first one that speaks Anthropic's API (its tokenizer is the model's).
  const deployment = config.deployments[body.model]?.find((candidate) => servesDialect(candidate, "anthropic"));
  const target = deployment ? targetOf(c.env, deployment) : undefined;
  let upstream: Response;
  try {
    upstream = await callUpstream(config, {
      path: new URL(c.req.url).pathname,
      body: deployment?.model ? { ...body, model: deployment.model } : body,
      clientHeaders: c.req.raw.headers,
      requestId: crypto.randomUUID(),
      clientSignal: c.req.raw.signal,
      target,
    });
  } catch (error) {
    if (error instanceof UpstreamFailure) throw failureError(error);
    throw error;
  }
  if (!upstream.ok) {
    const secrets = [config.upstreamApiKey, target?.apiKey ?? null].filter((value): value is string => value !== null);
    return upstreamError(upstream, new Headers(), secrets, "anthropic");
  }
  return new Response(upstream.body, { status: upstream.status, headers: { "content-type": "application/json" } });
}
