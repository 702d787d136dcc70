import { join } from "node:path";
import type { Config } from "../config";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import { DependencyMonitor, type MonitorOptions } from "../readiness";
import type { MessageLog, MessageStore, ObjectStore, TeamStore } from "../ports";
import { EmbeddedLog } from "./embedded-log";
import { SqliteStore } from "./sqlite-store";

export interface Adapters {
  log: MessageLog;
  teams: TeamStore;
  messages: MessageStore;
  objects?: ObjectStore;
  /** Readiness checks by dependency name: verdicts of a background monitor, answered at once. */
  checks: Record<string, () => Promise<void>>;
  close(): Promise<void>;
}

/**
 * Builds the adapters the configuration names: Kafka / MongoDB / S3 where their URLs are
 * set, otherwise the embedded ones under DATA_DIR. `need` says which ports this process uses.
 */
export async function openAdapters(
  config: Config,
  logger: Logger,
  need: { log?: boolean; stores?: boolean; objects?: boolean },
  monitoring: { metrics?: Metrics; options?: MonitorOptions } = {},
): Promise<Adapters> {
  const closers: (() => Promise<void>)[] = [];
  const checks: Record<string, () => Promise<void>> = {};
  let log: MessageLog | undefined;
  let teams: TeamStore | undefined;
  let messages: MessageStore | undefined;
  let objects: ObjectStore | undefined;

  if (need.log) {
    if (config.kafka) {
      const { KafkaLog } = await import("./kafka-log");
      // Heartbeats well inside the session, so a busy event loop does not cost the group membership.
      const session = config.kafka.sessionTimeoutMs;
      log = await KafkaLog.connect(
        config.kafka,
        config.relayId,
        logger.child({ component: "kafka" }),
        {
          ...(session ? { sessionTimeoutMs: session, heartbeatIntervalMs: Math.min(3000, Math.floor(session / 10)) } : {}),
          appendIntervalMs: config.kafka.produceIntervalMs,
        },
      );
      checks.kafka = () => log!.ping();
    } else {
      log = new EmbeddedLog(join(config.dataDir, "log"));
      checks.log = () => log!.ping();
    }
    closers.push(() => log!.close());
  }
  if (need.stores) {
    if (config.mongo) {
      const { MongoStore } = await import("./mongo-store");
      const store = await MongoStore.connect(config.mongo, logger.child({ component: "mongodb" }));
      teams = messages = store;
      checks.mongodb = () => store.ping();
      closers.push(() => store.close());
    } else {
      const store = new SqliteStore(config.dataDir);
      teams = messages = store;
      checks.database = () => store.ping();
      closers.push(() => store.close());
    }
  }
  if (need.objects) {
    if (config.s3) {
      const { S3ObjectStore } = await import("./s3-objects");
      objects = await S3ObjectStore.connect(config.s3, logger.child({ component: "s3" }));
      checks.s3 = () => objects!.ping();
    } else {
      const { FsObjectStore } = await import("./fs-objects");
      objects = new FsObjectStore({
        dir: join(config.dataDir, "objects"),
        secretFile: join(config.dataDir, "objects-secret"),
        baseUrl: config.publicUrl,
        logger: logger.child({ component: "objects" }),
      });
      checks.objects = () => objects!.ping();
    }
    closers.push(() => objects!.close());
  }
  const monitor = new DependencyMonitor(checks, logger.child({ component: "readiness" }), monitoring.metrics, monitoring.options).start();
  closers.push(() => monitor.stop()); // closed first: no "down" lines while the adapters close
  return {
    log: log!,
    teams: teams!,
    messages: messages!,
    objects,
    checks: monitor.checks,
    close: async () => {
      for (const c of closers.reverse()) await c().catch(() => undefined);
    },
  };
}
