import { createVerifier, type Verifier } from "@chat/common/auth";
import type { Config } from "@chat/common/config";
import { log, type Logger } from "@chat/common/log";
import { createMetrics, type Metrics } from "@chat/common/metrics";
import type { MessageLog, MessageStore, ObjectStore, TeamStore } from "@chat/common/ports";
import { CLIENT_ADDRESS_HEADER, createEdge } from "@chat/common/http/edge";
import { TokenBuckets, type AddressSource } from "@chat/common/http/rate-limit";
import { createManagementApp } from "./app";
import type { DevLogin } from "./dev/login";
import { createWebApp } from "./web";
import type { RestLimiter } from "./context";
import { routable } from "./routing";
import type { PresenceReader } from "./presence/reader";

/** What the REST API talks to: the stores, the log (membership events), the object store. */
export interface ManagementPorts {
  teams: TeamStore;
  messages: MessageStore;
  log: MessageLog;
  objects?: ObjectStore;
  /** Who is online (the controllers' presence tables). */
  presence?: PresenceReader;
}
export interface ManagementOverrides {
  verify?: Verifier;
  logger?: Logger;
  metrics?: Metrics;
  /** Readiness checks, by dependency name (the composition root knows every dependency of the process). */
  checks?: Record<string, () => Promise<void>>;
  /** Where presigned paths are made absolute, when it is known only once the server is bound (standalone). */
  publicUrl?: () => string | undefined;
  /** Standalone with its generated secret only: the web app's dev sign-in (POST /v1/dev/login). */
  devLogin?: { secret: string; allowRemote: boolean };
  /** The REST rate limit; by default LIMIT_REST_PER_SEC / LIMIT_REST_BURST per user, or per client address while unauthenticated. */
  restLimiter?: RestLimiter;
}

/**
 * The REST API under /v1 behind the edge (URL check, CORS, the client's address): `fetch` serves
 * it in any Bun server; it owns no connection of its own.
 */
export function createManagement(config: Config, ports: ManagementPorts, overrides: ManagementOverrides = {}) {
  const logger = overrides.logger ?? log.child({ service: "management" });
  const metrics = overrides.metrics ?? createMetrics();
  const edge = createEdge(config, { uploadPrefix: ports.objects?.serve ? ports.objects.pathPrefix : undefined });
  // The dev sign-in's loopback check reads the client's address as the edge determined it.
  const devLogin: DevLogin | undefined = overrides.devLogin && { ...overrides.devLogin, peer: (req) => req.headers.get(CLIENT_ADDRESS_HEADER) ?? undefined };
  const app = createManagementApp({
    config,
    ...ports,
    verify: overrides.verify ?? createVerifier(config.auth),
    logger,
    metrics,
    checks: overrides.checks ?? {},
    publicUrl: overrides.publicUrl,
    devLogin,
    restLimiter: overrides.restLimiter ?? new TokenBuckets({ rate: config.limits.restPerSec, burst: config.limits.restBurst }),
  });
  const web = createWebApp(logger.child({ component: "web" }));
  /** `/v1/...` is the API; everything else is the web app. */
  const handle = (req: Request) => {
    const { pathname } = new URL(req.url);
    return pathname === "/v1" || pathname.startsWith("/v1/") ? app.handle(req) : web.handle(req);
  };
  return {
    app,
    web,
    edge,
    metrics,
    fetch: (req: Request, server: AddressSource) => edge.handle(req, server, (forward) => handle(routable(forward))),
    /** Filesystem uploads stream through this process; nothing else comes close to this size. */
    maxRequestBodySize: config.limits.attachmentBytes + 64 * 1024,
    start(): void {},
    async stop(): Promise<void> {},
  };
}
export type Management = ReturnType<typeof createManagement>;
