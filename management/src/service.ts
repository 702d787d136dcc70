import { createVerifier, type Verifier } from "@chat/common/auth";
import type { Config } from "@chat/common/config";
import { log, type Logger } from "@chat/common/log";
import { createMetrics, type Metrics } from "@chat/common/metrics";
import type { MessageLog, MessageStore, ObjectStore, TeamStore } from "@chat/common/ports";
import { createManagementApp } from "./app";
import type { DevLogin } from "./dev/login";
import { createWebApp } from "./web";

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
  /** Standalone with its generated secret only: the web app's dev sign-in (POST /v1/dev/login). */
  devLogin?: { secret: string; allowRemote: boolean };
}

/** The REST API under /v1: `fetch` serves it in any Bun server; it owns no connection of its own. */
export function createManagement(config: Config, ports: ManagementPorts, overrides: ManagementOverrides = {}) {
  const logger = overrides.logger ?? log.child({ service: "management" });
  // The client's address for the dev sign-in's loopback check: Bun knows it, the Request does not.
  const peers = new WeakMap<Request, string>();
  const devLogin: DevLogin | undefined = overrides.devLogin && { ...overrides.devLogin, peer: (req) => peers.get(req) };
  const app = createManagementApp({
    config,
    ...ports,
    verify: overrides.verify ?? createVerifier(config.auth),
    logger,
    metrics: overrides.metrics ?? createMetrics(),
    checks: overrides.checks ?? {},
    devLogin,
  });
  const web = createWebApp(logger.child({ component: "web" }));
  return {
    app,
    web,
    /** `/v1/...` is the API; everything else is the web app. */
    fetch: (req: Request, server?: { requestIP(req: Request): { address: string } | null }) => {
      if (devLogin && server) {
        const ip = server.requestIP(req)?.address;
        if (ip) peers.set(req, ip);
      }
      const { pathname } = new URL(req.url);
      return pathname === "/v1" || pathname.startsWith("/v1/") ? app.handle(req) : web.handle(req);
    },
    /** Filesystem uploads stream through this process; nothing else comes close to this size. */
    maxRequestBodySize: config.limits.attachmentBytes + 64 * 1024,
    start(): void {},
    async stop(): Promise<void> {},
  };
}
export type Management = ReturnType<typeof createManagement>;
