import { z } from "zod";
import type { Bindings } from "../bindings";
import { modelPricesSchema, type ModelPrices } from "../pricing/schema";
import { endUserDefaultsSchema, type EndUserDefaults } from "../schemas/end-user-defaults";
import { deploymentsSchema, type Deployments } from "./deployments";
import { modelTokenizersSchema, type ModelTokenizers } from "../tokens";

/** The master key `npm run dev` accepts when none is configured; documented in the README. */
export const LOCAL_DEV_MASTER_KEY = "sk-edgequota-dev";

const integer = (fallback: number, min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^[0-9]+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .optional()
    .transform((value) => value ?? fallback);

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value && value.trim() !== "" ? value.trim() : null));

/** A variable holding JSON, validated by `schema`; unset means an empty object (or null, when `unset` says so). */
function jsonVar<T>(schema: z.ZodType<T>, unset: "empty" | "null" = "empty") {
  return optionalText.transform((text, ctx): T | null => {
    if (text === null && unset === "null") return null;
    let raw: unknown = {};
    if (text !== null) {
      try {
        raw = JSON.parse(text);
      } catch {
        ctx.addIssue({ code: "custom", message: "is not valid JSON" });
        return z.NEVER;
      }
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      ctx.addIssue({ code: "custom", message: z.prettifyError(parsed.error).replace(/\n/g, " ") });
      return z.NEVER;
    }
    return parsed.data;
  });
}

const configSchema = z
  .object({
    MASTER_KEY: optionalText,
    EDGEQUOTA_LOCAL_DEV: optionalText,
    UPSTREAM_BASE_URL: optionalText.pipe(
      z
        .url({ protocol: /^https?$/, message: "must be an http(s) URL" })
        .transform((url) => url.replace(/\/+$/, ""))
        .nullable(),
    ),
    UPSTREAM_API_KEY: optionalText,
    UPSTREAM_TIMEOUT_MS: integer(600_000, 1, 3_600_000),
    RATE_LIMIT_WINDOW_SECONDS: integer(60, 1, 86_400),
    RESERVATION_TTL_MS: optionalText.pipe(z.string().regex(/^[0-9]+$/, "must be a whole number").transform(Number).nullable()),
    DEFAULT_OUTPUT_TOKENS: integer(256, 0, 10_000_000),
    MAX_BODY_BYTES: integer(4 * 1024 * 1024, 1024, 100 * 1024 * 1024),
    MODEL_PRICES: jsonVar<ModelPrices>(modelPricesSchema).transform((value) => value!),
    DEPLOYMENTS: jsonVar<Deployments>(deploymentsSchema).transform((value) => value!),
    END_USER_DEFAULTS: jsonVar<EndUserDefaults>(endUserDefaultsSchema, "null"),
    DEPLOYMENT_COOLDOWN_MS: integer(5_000, 0, 3_600_000),
    MODEL_TOKENIZERS: jsonVar<ModelTokenizers>(modelTokenizersSchema).transform((value) => value!),
    LIMITER_FAILURE_MODE: optionalText.pipe(z.enum(["closed", "open"]).nullable()),
    MANAGEMENT_API: optionalText.pipe(z.enum(["on", "off"]).nullable()),
    MANAGEMENT_HOSTNAMES: optionalText,
    CORS_ORIGINS: optionalText,
    ALERT_WEBHOOK_URL: optionalText.pipe(z.url({ protocol: /^https?$/, message: "must be an http(s) URL" }).nullable()),
    ALERT_WEBHOOK_SECRET: optionalText,
    ALERT_FORMAT: optionalText.pipe(z.enum(["json", "slack"]).nullable()),
    ALERT_RETRY_BASE_SECONDS: integer(2, 0, 300),
    LEASES: optionalText.pipe(z.enum(["on", "off"]).nullable()),
    LEASE_MS: integer(2_000, 100, 30_000),
    LEASE_MIN_FREE_PERCENT: integer(10, 0, 100),
    LEASE_SHARE_PERCENT: integer(25, 1, 100),
    LEASE_MIN_RATE: integer(4, 1, 1_000_000),
    LEASE_MARGIN_MS: integer(200, 0, 10_000),
  })
  .transform((env) => ({
    /** null: management API refuses with 503 until the secret is set. */
    masterKey: env.MASTER_KEY ?? (env.EDGEQUOTA_LOCAL_DEV === "true" ? LOCAL_DEV_MASTER_KEY : null),
    upstreamBaseUrl: env.UPSTREAM_BASE_URL,
    upstreamApiKey: env.UPSTREAM_API_KEY,
    upstreamTimeoutMs: env.UPSTREAM_TIMEOUT_MS,
    windowMs: env.RATE_LIMIT_WINDOW_SECONDS * 1000,
    // A front door that vanished cannot settle; give an honest call its whole timeout plus a margin first.
    reservationTtlMs: env.RESERVATION_TTL_MS ?? env.UPSTREAM_TIMEOUT_MS + 60_000,
    defaultOutputTokens: env.DEFAULT_OUTPUT_TOKENS,
    maxBodyBytes: env.MAX_BODY_BYTES,
    modelPrices: env.MODEL_PRICES,
    deployments: env.DEPLOYMENTS,
    /** Limits for end users never registered with /customer/new, unless their key sets its own; null = none. */
    endUserDefaults: env.END_USER_DEFAULTS,
    /** Model names (beyond the built-in OpenAI families) whose prompts are counted with a public tokenizer. */
    modelTokenizers: env.MODEL_TOKENIZERS,
    /** How long a deployment that answered 429 or 5xx is skipped (its retry-after wins when given). */
    deploymentCooldownMs: env.DEPLOYMENT_COOLDOWN_MS,
    /**
     * "closed" (default): a team or deployment object that cannot be reached fails the call with 503.
     * "open": such a call goes on without that reservation. The key's own object is never skipped: without it
     * the key cannot even be authenticated.
     */
    failOpen: env.LIMITER_FAILURE_MODE === "open",
    /** The management API can be switched off, or served only on the listed (private) hostnames. */
    managementApi: env.MANAGEMENT_API !== "off",
    managementHostnames: env.MANAGEMENT_HOSTNAMES === null ? null : env.MANAGEMENT_HOSTNAMES.split(",").map((host) => host.trim().toLowerCase()).filter(Boolean),
    /** Browser origins allowed to call the OpenAI endpoints; none by default. Never applies to management routes. */
    corsOrigins: env.CORS_ORIGINS === null ? [] : env.CORS_ORIGINS.split(",").map((origin) => origin.trim()).filter(Boolean),
    /** Alert delivery (src/alerts/consumer.ts): where to post, the signing secret (null: unsigned), the body's shape. */
    alerts: {
      webhookUrl: env.ALERT_WEBHOOK_URL,
      webhookSecret: env.ALERT_WEBHOOK_SECRET,
      format: env.ALERT_FORMAT ?? "json",
      retryBaseSeconds: env.ALERT_RETRY_BASE_SECONDS,
    },
    /**
     * Leases (src/limiter/lease.ts): front doors borrow short slices of an owner's capacity and admit calls locally.
     * On unless LEASES=off. A front door asks once it sees `minRate` calls per second for an owner; a lease lasts
     * `durationMs`, takes at most `share` of the free room and none below `minFree` of a limit; it stops admitting
     * `marginMs` (or twice the last round trip) before it ends, to be given back in time.
     */
    leases: {
      enabled: env.LEASES !== "off",
      durationMs: env.LEASE_MS,
      minFree: env.LEASE_MIN_FREE_PERCENT / 100,
      share: env.LEASE_SHARE_PERCENT / 100,
      minRate: env.LEASE_MIN_RATE,
      marginMs: env.LEASE_MARGIN_MS,
    },
  }));

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const cache = new WeakMap<object, Config>();

/** Parses the environment once per isolate; an invalid variable fails every request with a clear message. */
export function loadConfig(env: Bindings): Config {
  const cached = cache.get(env);
  if (cached) return cached;
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(`edgequota is misconfigured: ${z.prettifyError(parsed.error).replace(/\n/g, "; ")}`);
  }
  cache.set(env, parsed.data);
  return parsed.data;
}
