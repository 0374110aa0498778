import { Hono, type Context } from "hono";
import { z } from "zod";
import { sha256Hex } from "../../crypto/secret";
import type { AppEnv } from "../../http/app-env";
import { credential } from "../../http/credentials";
import { ApiError } from "../../http/errors";
import { refusalError } from "../../http/limit-error";
import { modelAllowed } from "../../objects/limits";
import { keyObject } from "../../stubs";
import { callUpstream, failureError, UpstreamFailure } from "../../upstream/forward";

const modelListSchema = z.looseObject({ data: z.array(z.looseObject({ id: z.string() })) });

/** The upstream's model list, narrowed to the models this key may use. Not rate limited: it costs no tokens. */
const listModels = async (c: Context<AppEnv>) => {
  const auth = await keyObject(c.env, await sha256Hex(credential(c))).authenticate();
  if (!auth.ok) throw refusalError(auth.refusal);
  let upstream: Response;
  try {
    upstream = await callUpstream(c.var.config, {
      path: "/v1/models",
      clientHeaders: new Headers(),
      requestId: crypto.randomUUID(),
      clientSignal: c.req.raw.signal,
    });
  } catch (error) {
    if (error instanceof UpstreamFailure) throw failureError(error);
    throw error;
  }
  const parsed = modelListSchema.safeParse(await upstream.json().catch(() => null));
  if (!upstream.ok || !parsed.success) {
    throw new ApiError("upstream_invalid_response", `Upstream model list unavailable (status ${upstream.status}).`);
  }
  return c.json({ ...parsed.data, object: "list", data: parsed.data.data.filter((model) => modelAllowed(auth.record.models, model.id)) });
};

export const models = new Hono<AppEnv>().get("/v1/models", listModels).get("/models", listModels);
