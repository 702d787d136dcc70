import type { Interceptor } from "@connectrpc/connect";
import type { Config } from "@chat/common/config";
import { log, type Logger } from "@chat/common/log";
import { createMetrics, type Metrics } from "@chat/common/metrics";
import type { MessageLog, MessageStore, TeamStore } from "@chat/common/ports";
import { Ephemeral } from "./ephemeral";
import { Hub } from "./hub";
import { Ingest } from "./ingest";
import { controllerRoutes, errorInterceptor, mappedStream, tokenInterceptor } from "./routes";
import { ClaimPruner } from "./prune";
import { subscribe } from "./rpc/subscribe";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { SubscribeRequestSchema } from "@chat/proto/chat/v1/controller_pb";

/** What a controller talks to: the log it consumes and the stores it persists to and answers from. */
export interface ControllerPorts {
  log: MessageLog;
  teams: TeamStore;
  messages: MessageStore;
}
export interface ControllerOverrides {
  logger?: Logger;
  metrics?: Metrics;
  hub?: Hub;
  /** Called if consumption stops for good; by default the process exits to be restarted. */
  onFatal?: (err: unknown) => void;
}

/**
 * Consumes the log, persists, and serves relays their channels' traffic over Connect: `routes`
 * and `interceptors` mount on any Connect transport (HTTP/2 in distributed mode, in-memory in
 * standalone); `start()` begins consuming as a member of KAFKA_GROUP.
 */
export function createController(config: Config, ports: ControllerPorts, overrides: ControllerOverrides = {}) {
  const logger = overrides.logger ?? log.child({ service: "controller" });
  const metrics = overrides.metrics ?? createMetrics();
  const onFatal =
    overrides.onFatal ??
    ((err: unknown) => {
      logger.error("consumer stopped for good; exiting to be restarted", { err });
      process.exit(1);
    });
  const hub = overrides.hub ?? new Hub();
  const ephemeral = new Ephemeral(hub);
  const ingestion = new Ingest({
    ...ports,
    hub,
    logger,
    metrics,
    group: config.consumerGroup,
    dedupeWindowMs: config.limits.dedupeWindowMs,
    maxUnstored: config.limits.unstoredRecords,
  });
  const rpc = { hub, ephemeral, teams: ports.teams, messages: ports.messages, unstored: ingestion.unstored, logger, metrics };
  const ac = new AbortController();
  let ingest: Promise<void> | undefined;
  // client_msg_id claims older than the dedupe window are dropped once a minute (any controller may; it is idempotent).
  const pruner = new ClaimPruner(ports.messages, config.limits.dedupeWindowMs);
  const prune = () => void pruner.run().catch((err: unknown) => logger.warn("pruning client_msg_id claims failed", { err: String(err) }));
  let pruning: ReturnType<typeof setInterval> | undefined;
  const interceptors: Interceptor[] = [errorInterceptor(rpc), tokenInterceptor(config.controllerToken)];
  return {
    hub,
    routes: controllerRoutes(rpc),
    /**
     * Subscribe without a transport, for a relay in the same process (standalone): the same handler,
     * its messages handed over as objects instead of encoded and decoded on the in-memory transport
     * (a tenth of the event loop's work at 1,000 msg/s). Errors become Connect errors as on the wire.
     */
    subscribe: (req: MessageInitShape<typeof SubscribeRequestSchema>, opts: { signal?: AbortSignal } = {}) =>
      mappedStream(rpc, "Subscribe", subscribe(rpc, create(SubscribeRequestSchema, req), { signal: opts.signal ?? new AbortController().signal } as HandlerContext)),
    interceptors,
    metrics,
    checks: {} as Record<string, () => Promise<void>>,
    start(): void {
      pruning = setInterval(prune, 60_000);
      ephemeral.start();
      ingest = ingestion.run(ac.signal).catch((err) => {
        if (!ac.signal.aborted) onFatal(err);
      });
    },
    /** Stops consuming after the batch in hand is persisted and committed, then ends relay streams. */
    async stop(): Promise<void> {
      clearInterval(pruning);
      ac.abort();
      ephemeral.stop();
      await ingest;
      await pruner.idle();
      hub.closeAll("controller shutting down");
    },
  };
}
export type Controller = ReturnType<typeof createController>;
