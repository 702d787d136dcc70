import { openAdapters } from "@chat/common/adapters/index";
import { createVerifier } from "@chat/common/auth";
import type { Config } from "@chat/common/config";
import { log } from "@chat/common/log";
import { requireDistributed, runMain } from "@chat/common/service-main";
import { createMetrics } from "@chat/common/metrics";
import { createManagementApp } from "./app";

/** Distributed mode: the management API alone, on MongoDB / Kafka / S3 when configured (embedded otherwise). */
export async function startManagement(config: Config) {
  const logger = log.child({ service: "management" });
  const adapters = await openAdapters(config, logger, { log: true, stores: true, objects: true });
  const app = createManagementApp({
    config,
    verify: createVerifier(config.auth),
    teams: adapters.teams,
    messages: adapters.messages,
    log: adapters.log,
    objects: adapters.objects,
    logger: logger.child({ component: "management" }),
    metrics: createMetrics(),
    checks: adapters.checks,
  });
  const server = Bun.serve({
    port: config.port,
    hostname: config.host,
    // Filesystem uploads stream through this process; nothing else comes close to this size.
    maxRequestBodySize: config.limits.attachmentBytes + 64 * 1024,
    fetch: (req) => app.handle(req),
  });
  logger.info("listening", { url: `http://${config.host}:${server.port}` });
  return {
    port: server.port!,
    async stop() {
      await server.stop();
      await adapters.close();
      logger.info("stopped");
    },
  };
}

if (import.meta.main) await runMain("management", startManagement, requireDistributed("kafka", "mongo"));
