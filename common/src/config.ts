import { isIP } from "node:net";
import { hostname } from "node:os";
import { normalizeOrigin } from "./http/cors";
import Type, { type Static, type TObject } from "typebox";
import Value from "typebox/value";

/**
 * Every setting, named as its environment variable. This table is the one
 * place that reads configuration; README's configuration table mirrors it.
 */
const Int = (min: number, max: number, def: number, description: string) =>
  Type.Integer({ minimum: min, maximum: max, default: def, description });
const Str = (description: string) => Type.Optional(Type.String({ minLength: 1, description }));

export const Settings = Type.Object({
  PORT: Int(0, 65535, 8080, "public HTTP port (0 = any free port) (standalone: WS + REST; distributed: the service's port)"),
  HOST: Type.String({ minLength: 1, default: "0.0.0.0", description: "listen address" }),
  DATA_DIR: Type.String({ minLength: 1, default: "./data", description: "standalone data directory" }),
  LOG_LEVEL: Type.Union([Type.Literal("debug"), Type.Literal("info"), Type.Literal("warn"), Type.Literal("error")], { default: "info" }),
  PUBLIC_URL: Str("externally visible base URL, used in presigned URLs served by this process"),

  AUTH_JWT_SECRET: Type.Optional(Type.String({ minLength: 32, description: "HS256 secret (at least 32 bytes)" })),
  AUTH_JWKS_URL: Type.Optional(Type.String({ pattern: "^https?://", description: "JWKS URL for RS256/ES256/EdDSA" })),
  AUTH_ISSUER: Str("required `iss`"),
  AUTH_AUDIENCE: Str("required `aud`"),

  LIMIT_FRAME_BYTES: Int(256, 1 << 20, 16384, "max WebSocket frame"),
  LIMIT_TEXT_CHARS: Int(1, 100000, 4000, "max text message length"),
  LIMIT_RATE_PER_SEC: Int(1, 100000, 20, "messages per second per connection"),
  LIMIT_RATE_BURST: Int(1, 100000, 40, "burst per connection"),
  LIMIT_HISTORY_PAGE: Int(1, 1000, 100, "max history page (GET /v1/teams/:id/messages `limit`)"),
  LIMIT_TEAM_NAME_CHARS: Int(1, 1000, 100, "max team name length, in characters"),
  LIMIT_META_TAGS: Int(1, 1000, 20, "max meta tags per team"),
  LIMIT_META_TAG_CHARS: Int(1, 256, 32, "max meta tag length"),
  LIMIT_ATTACHMENT_BYTES: Int(1, 5 * 1024 ** 3, 100 * 1024 * 1024, "max attachment size"),
  LIMIT_WS_BUFFER_BYTES: Int(1024, 1 << 30, 1 << 20, "a socket buffering more than this is closed with 1013"),
  LIMIT_JSON_BODY_BYTES: Int(1024, 16 << 20, 64 * 1024, "largest JSON request body; a larger declared or streamed one gets 413 before authentication"),
  LIMIT_REST_PER_SEC: Int(1, 1_000_000, 50, "REST requests per second per user (per client address while unauthenticated); then 429 with Retry-After"),
  LIMIT_REST_BURST: Int(1, 1_000_000, 100, "REST burst per user (per client address while unauthenticated)"),
  CORS_ORIGINS: Type.String({ default: "", description: "comma-separated origins allowed to call the REST API from a browser (empty: same origin only)" }),
  TRUST_PROXY: Type.Boolean({ default: false, description: "take the client address from X-Forwarded-For (set only behind a reverse proxy)" }),
  TRUSTED_PROXIES: Type.String({ default: "", description: "with TRUST_PROXY: comma-separated proxy addresses; the header is believed only from them" }),
  LIMIT_SOCKETS_PER_USER: Int(1, 100000, 20, "open WebSockets per user on one relay; the next upgrade gets HTTP 429"),
  HTTP_IDLE_TIMEOUT_SEC: Int(1, 255, 10, "an HTTP connection (a WebSocket handshake included) idle this long is closed"),
  LIMIT_DELIVERY_LAG_SEC: Int(0, 3600, 10, "a relay answers sends `unavailable` while a message it acked this long ago has not come back from the controllers (0 = off)"),
  LIMIT_PENDING_APPENDS: Int(1, 1_000_000, 20000, "messages waiting for the log before the relay answers unavailable"),
  LIMIT_UNSTORED_RECORDS: Int(1000, 10_000_000, 100_000, "log records a controller has consumed and published but not yet stored; past it consumption waits for the database (and relays' delivery lag turns sends away)"),
  DEDUPE_WINDOW_SEC: Int(1, 86400, 300, "client_msg_id dedupe window"),
  DEDUPE_MAX_ENTRIES: Int(1000, 50_000_000, 200_000, "client_msg_ids a relay remembers (about 120 bytes each) as a fast path; past it, a resend of a key it forgot is checked against the store (forgotten keys go into Bloom filters: 2 bytes per key, 64 MB at most)"),
  DEDUPE_RECONNECT_SEC: Int(0, 3600, 10, "for this long after a socket opens, a client_msg_id its relay does not remember is acked only with the controller's verdict on it (resends through another relay; 0 = off)"),
  PRESENCE_LEASE_SEC: Int(3, 300, 15, "a relay's presence lease: its users go offline this long (plus the 5 s grace) after it stops renewing (it renews every third of it)"),

  KAFKA_BROKERS: Str("comma-separated host:port list; set = use Kafka"),
  KAFKA_TOPIC: Type.String({ minLength: 1, default: "chat.events" }),
  KAFKA_PARTITIONS: Int(1, 10000, 12, "partitions when the topic is created (fixed afterwards: seq is the partition offset)"),
  KAFKA_REPLICATION: Int(1, 10, 1, "replication factor when the topic is created"),
  KAFKA_GROUP: Type.String({ minLength: 1, default: "chat-controllers" }),
  KAFKA_SESSION_TIMEOUT_SEC: Int(6, 300, 30, "controllers' consumer session: the partitions of a controller that died without leaving stall this long (the broker's minimum is 6 s)"),
  KAFKA_PRODUCE_INTERVAL_MS: Int(0, 1000, 10, "a relay's messages that gathered while its produce request was out wait until this long after that one started, then go together (under load: fewer, fuller requests for the relay and Kafka); a message reaching an idle relay goes at once; 0 = back to back"),
  MONGODB_URL: Str("mongodb:// URL; set = use MongoDB"),
  MONGODB_DB: Type.String({ minLength: 1, default: "chat" }),
  S3_ENDPOINT: Str("S3 endpoint URL; set = use S3"),
  S3_PUBLIC_ENDPOINT: Type.Optional(Type.String({ pattern: "^https?://", description: "endpoint clients use, put in presigned URLs (default: S3_ENDPOINT)" })),
  S3_BUCKET: Type.String({ minLength: 3, default: "chat-attachments" }),
  S3_REGION: Type.String({ minLength: 1, default: "us-east-1" }),
  S3_ACCESS_KEY_ID: Str("S3 access key"),
  S3_SECRET_ACCESS_KEY: Str("S3 secret key"),
  S3_FORCE_PATH_STYLE: Type.Boolean({ default: true }),

  OPS_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: "private port for /v1/health, /v1/ready and /v1/metrics (no token there); any service" })),
  RELAY_ID: Str("relay identity (default: host-pid)"),
  CONTROLLER_URLS: Str("relay: comma-separated controller base URLs (http://host:port)"),
  CONTROLLER_TOKEN: Type.Optional(Type.String({ minLength: 16, description: "shared secret relays present to controllers" })),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, description: "/v1/metrics on a public port answers only `Authorization: Bearer <token>` (unset: only on OPS_PORT)" })),
  DEV_LOGIN: Type.Boolean({ default: false, description: "standalone with its generated dev secret: offer the web app's dev sign-in to non-loopback clients too" }),
});
export type SettingsT = Static<typeof Settings>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Validates a schema of env-named settings; a bad value throws naming the variable. */
export function parseEnv<S extends TObject>(schema: S, env: Record<string, string | undefined>): Static<S> {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) {
    const raw = env[key];
    if (raw !== undefined && raw !== "") picked[key] = raw;
  }
  const value = Value.Convert(schema, Value.Default(schema, picked)) as Record<string, unknown>;
  const errors = [...Value.Errors(schema, value)];
  if (errors.length) {
    const lines = errors.map((e) => {
      const name = e.instancePath.replace(/^\//, "") || (e.params as { requiredProperties?: string[] })?.requiredProperties?.join(",") || "?";
      // Values are not echoed: they may be secrets.
      return `${name}: ${e.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${[...new Set(lines)].join("\n  ")}`);
  }
  return value as Static<S>;
}

export interface Config {
  port: number;
  host: string;
  httpIdleTimeoutSec: number;
  corsOrigins: string[];
  proxy: { trust: boolean; addresses: string[] };
  dataDir: string;
  logLevel: "debug" | "info" | "warn" | "error";
  publicUrl?: string;
  auth: { jwtSecret?: string; jwksUrl?: string; issuer?: string; audience?: string };
  limits: {
    frameBytes: number;
    textChars: number;
    ratePerSec: number;
    rateBurst: number;
    historyPage: number;
    attachmentBytes: number;
    wsBufferBytes: number;
    pendingAppends: number;
    unstoredRecords: number;
    socketsPerUser: number;
    deliveryLagMs: number;
    jsonBodyBytes: number;
    restPerSec: number;
    restBurst: number;
    dedupeWindowMs: number;
    dedupeEntries: number;
    dedupeReconnectMs: number;
    teamName: number;
    metaTags: number;
    metaTagChars: number;
  };
  kafka?: { brokers: string[]; topic: string; partitions: number; replication: number; group: string; sessionTimeoutMs?: number; produceIntervalMs?: number };
  /** The controllers' consumer group (KAFKA_GROUP), in both modes. */
  consumerGroup: string;
  mongo?: { url: string; db: string };
  s3?: { endpoint: string; publicEndpoint: string; bucket: string; region: string; accessKeyId?: string; secretAccessKey?: string; forcePathStyle: boolean };
  opsPort?: number;
  relayId: string;
  controllerUrls: string[];
  controllerToken?: string;
  metricsToken?: string;
  /** DEV_LOGIN: the dev sign-in (standalone with a generated secret only) for clients beyond loopback. */
  devLoginRemote: boolean;
  /** PROTOCOL section 10. */
  presence: { leaseMs: number };
}

const list = (s: string | undefined) => (s ? s.split(",").map((x) => x.trim()).filter(Boolean) : []);

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const s = parseEnv(Settings, env);
  const config: Config = {
    port: s.PORT,
    host: s.HOST,
    httpIdleTimeoutSec: s.HTTP_IDLE_TIMEOUT_SEC,
    corsOrigins: list(s.CORS_ORIGINS),
    proxy: { trust: s.TRUST_PROXY, addresses: list(s.TRUSTED_PROXIES) },
    dataDir: s.DATA_DIR,
    logLevel: s.LOG_LEVEL,
    publicUrl: s.PUBLIC_URL?.replace(/\/+$/, ""),
    auth: { jwtSecret: s.AUTH_JWT_SECRET, jwksUrl: s.AUTH_JWKS_URL, issuer: s.AUTH_ISSUER, audience: s.AUTH_AUDIENCE },
    limits: {
      frameBytes: s.LIMIT_FRAME_BYTES,
      textChars: s.LIMIT_TEXT_CHARS,
      ratePerSec: s.LIMIT_RATE_PER_SEC,
      rateBurst: s.LIMIT_RATE_BURST,
      historyPage: s.LIMIT_HISTORY_PAGE,
      attachmentBytes: s.LIMIT_ATTACHMENT_BYTES,
      wsBufferBytes: s.LIMIT_WS_BUFFER_BYTES,
      pendingAppends: s.LIMIT_PENDING_APPENDS,
      unstoredRecords: s.LIMIT_UNSTORED_RECORDS,
      socketsPerUser: s.LIMIT_SOCKETS_PER_USER,
      deliveryLagMs: s.LIMIT_DELIVERY_LAG_SEC * 1000,
      jsonBodyBytes: s.LIMIT_JSON_BODY_BYTES,
      restPerSec: s.LIMIT_REST_PER_SEC,
      restBurst: s.LIMIT_REST_BURST,
      dedupeWindowMs: s.DEDUPE_WINDOW_SEC * 1000,
      dedupeEntries: s.DEDUPE_MAX_ENTRIES,
      dedupeReconnectMs: s.DEDUPE_RECONNECT_SEC * 1000,
      teamName: s.LIMIT_TEAM_NAME_CHARS,
      metaTags: s.LIMIT_META_TAGS,
      metaTagChars: s.LIMIT_META_TAG_CHARS,
    },
    kafka: s.KAFKA_BROKERS
      ? {
          brokers: list(s.KAFKA_BROKERS),
          topic: s.KAFKA_TOPIC,
          partitions: s.KAFKA_PARTITIONS,
          replication: s.KAFKA_REPLICATION,
          group: s.KAFKA_GROUP,
          sessionTimeoutMs: s.KAFKA_SESSION_TIMEOUT_SEC * 1000,
          produceIntervalMs: s.KAFKA_PRODUCE_INTERVAL_MS,
        }
      : undefined,
    consumerGroup: s.KAFKA_GROUP,
    mongo: s.MONGODB_URL ? { url: s.MONGODB_URL, db: s.MONGODB_DB } : undefined,
    s3: s.S3_ENDPOINT
      ? {
          endpoint: s.S3_ENDPOINT,
          publicEndpoint: s.S3_PUBLIC_ENDPOINT ?? s.S3_ENDPOINT,
          bucket: s.S3_BUCKET,
          region: s.S3_REGION,
          accessKeyId: s.S3_ACCESS_KEY_ID,
          secretAccessKey: s.S3_SECRET_ACCESS_KEY,
          forcePathStyle: s.S3_FORCE_PATH_STYLE,
        }
      : undefined,
    opsPort: s.OPS_PORT,
    relayId: s.RELAY_ID ?? `${hostname()}-${process.pid}`,
    controllerUrls: list(s.CONTROLLER_URLS),
    controllerToken: s.CONTROLLER_TOKEN,
    metricsToken: s.METRICS_TOKEN,
    devLoginRemote: s.DEV_LOGIN,
    presence: { leaseMs: s.PRESENCE_LEASE_SEC * 1000 },
  };
  for (const u of config.controllerUrls) if (!/^https?:\/\/[^/\s]+\/?$/.test(u)) throw new ConfigError(`CONTROLLER_URLS: not a base URL: ${u}`);
  for (const o of config.corsOrigins) {
    try {
      normalizeOrigin(o);
    } catch (err) {
      throw new ConfigError(`CORS_ORIGINS: ${(err as Error).message}`);
    }
  }
  for (const a of config.proxy.addresses) if (!isIP(a)) throw new ConfigError(`TRUSTED_PROXIES: not an IP address: ${a}`);
  return Object.freeze(config);
}

/** The README's configuration table, generated from `Settings` (a test keeps the README in step). */
export function settingsTable(): string {
  const rows = Object.entries(Settings.properties).map(([name, schema]) => {
    const s = schema as { default?: unknown; description?: string; anyOf?: { const?: string }[] };
    const def = s.default === undefined || s.default === "" ? "—" : `\`${String(s.default)}\``;
    const text = (s.description ?? (s.anyOf ? s.anyOf.map((x) => x.const).join(" | ") : "")).replace(/\|/g, "\\|");
    return `| \`${name}\` | ${def} | ${text} |`;
  });
  return ["| variable | default | meaning |", "|---|---|---|", ...rows].join("\n");
}
