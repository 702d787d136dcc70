import type { Interceptor } from "@connectrpc/connect";
import type { Logger } from "@chat/common/log";
import type { Metrics } from "@chat/common/metrics";
import type { MessageLog, MessageStore, TeamStore } from "@chat/common/ports";
import { Hub } from "./hub";
import { runIngest } from "./ingest";
import { controllerRoutes, errorInterceptor, tokenInterceptor } from "./routes";

export interface ControllerDeps {
  log: MessageLog;
  teams: TeamStore;
  messages: MessageStore;
  logger: Logger;
  metrics: Metrics;
  group: string;
  token?: string;
  /** Called if consumption stops for good (the process should exit and be restarted). */
  onFatal: (err: unknown) => void;
}

/** Consumes the log, persists, and serves relays their channels' traffic over Connect. */
export function createController(deps: ControllerDeps) {
  const hub = new Hub();
  const rpc = { hub, teams: deps.teams, messages: deps.messages, logger: deps.logger, metrics: deps.metrics };
  const ac = new AbortController();
  let ingest: Promise<void> | undefined;
  const interceptors: Interceptor[] = [errorInterceptor(rpc), tokenInterceptor(deps.token)];
  return {
    hub,
    routes: controllerRoutes(rpc),
    interceptors,
    start(): void {
      ingest = runIngest({ ...deps, hub }, ac.signal).catch((err) => {
        if (!ac.signal.aborted) deps.onFatal(err);
      });
    },
    /** Stops consuming after the batch in hand is persisted and committed, then ends relay streams. */
    async stop(): Promise<void> {
      ac.abort();
      await ingest;
      hub.closeAll("controller shutting down");
    },
  };
}
export type Controller = ReturnType<typeof createController>;
