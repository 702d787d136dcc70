import { createVerifier, type Verifier } from "@chat/common/auth";
import type { Config } from "@chat/common/config";
import { TokenBuckets } from "@chat/common/http/rate-limit";
import { log, type Logger } from "@chat/common/log";
import { createMetrics, type Metrics } from "@chat/common/metrics";
import type { MessageLog, MessageStore, ObjectStore, TeamStore } from "@chat/common/ports";
import { createManagementApp } from "./app";
import type { RestLimiter } from "./context";
import { routable } from "./routing";

/** What the REST API talks to: the stores, the log (membership events), the object store. */
export interface ManagementPorts {
  teams: TeamStore;
  messages: MessageStore;
  log: MessageLog;
  objects?: ObjectStore;
}
export interface ManagementOverrides {
  verify?: Verifier;
  logger?: Logger;
  metrics?: Metrics;
  /** Readiness checks, by dependency name (the composition root knows every dependency of the process). */
  checks?: Record<string, () => Promise<void>>;
  /** The REST rate limit; by default LIMIT_REST_PER_SEC / LIMIT_REST_BURST per user, or per client address while unauthenticated. */
  restLimiter?: RestLimiter;
}

/** The REST API under /v1: `fetch` serves it in any Bun server; it owns no connection of its own. */
export function createManagement(config: Config, ports: ManagementPorts, overrides: ManagementOverrides = {}) {
  const logger = overrides.logger ?? log.child({ service: "management" });
  const app = createManagementApp({
    config,
    ...ports,
    verify: overrides.verify ?? createVerifier(config.auth),
    logger,
    metrics: overrides.metrics ?? createMetrics(),
    checks: overrides.checks ?? {},
    restLimiter: overrides.restLimiter ?? new TokenBuckets({ rate: config.limits.restPerSec, burst: config.limits.restBurst }),
  });
  return {
    app,
    fetch: (req: Request) => app.handle(routable(req)),
    /** Filesystem uploads stream through this process; nothing else comes close to this size. */
    maxRequestBodySize: config.limits.attachmentBytes + 64 * 1024,
    start(): void {},
    async stop(): Promise<void> {},
  };
}
export type Management = ReturnType<typeof createManagement>;
