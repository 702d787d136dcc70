import { createVerifier, type Verifier } from "@chat/common/auth";
import type { Config } from "@chat/common/config";
import { log, type Logger } from "@chat/common/log";
import { createMetrics, type Metrics } from "@chat/common/metrics";
import type { MessageLog, MessageStore, ObjectStore, TeamStore } from "@chat/common/ports";
import { createEdge } from "@chat/common/http/edge";
import type { AddressSource } from "@chat/common/http/rate-limit";
import { createManagementApp } from "./app";
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
}

/**
 * The REST API under /v1 behind the edge (body limits, JSON rules, CORS, rate limits): `fetch` serves
 * it in any Bun server; it owns no connection of its own.
 */
export function createManagement(config: Config, ports: ManagementPorts, overrides: ManagementOverrides = {}) {
  const logger = overrides.logger ?? log.child({ service: "management" });
  const metrics = overrides.metrics ?? createMetrics();
  const edge = createEdge(config, { uploadPrefix: ports.objects?.serve ? ports.objects.pathPrefix : undefined });
  const app = createManagementApp({
    config,
    ...ports,
    verify: overrides.verify ?? createVerifier(config.auth),
    logger,
    metrics,
    checks: overrides.checks ?? {},
    publicUrl: overrides.publicUrl,
  });
  const handle = (req: Request) => app.handle(req);
  return {
    app,
    edge,
    metrics,
    fetch: (req: Request, server: AddressSource) => edge.handle(req, server, handle),
    /** Filesystem uploads stream through this process; nothing else comes close to this size. */
    maxRequestBodySize: config.limits.attachmentBytes + 64 * 1024,
    start(): void {},
    async stop(): Promise<void> {},
  };
}
export type Management = ReturnType<typeof createManagement>;
