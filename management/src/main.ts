import { createClient } from "@connectrpc/connect";
import { openAdapters } from "@chat/common/adapters/index";
import { controllerTransports } from "@chat/common/controller-transports";
import { ControllerService } from "@chat/proto/chat/v1/controller_pb";
import type { Config } from "@chat/common/config";
import { log } from "@chat/common/log";
import { createMetrics } from "@chat/common/metrics";
import { ConfigError } from "@chat/common/config";
import { serve, serveOps } from "@chat/common/serve";
import { requireDistributed, runMain } from "@chat/common/service-main";
import { controllerPresence } from "./presence/reader";
import { createManagement } from "./service";

/** Distributed mode: the management API alone, on MongoDB / Kafka / S3. */
export async function startManagement(config: Config) {
  const logger = log.child({ service: "management" });
  const metrics = createMetrics();
  const adapters = await openAdapters(config, logger, { log: true, stores: true, objects: true }, { metrics });
  // Presence lives in the controllers' memory: management asks them (CONTROLLER_URLS), as relays do.
  const controllers = controllerTransports(config).map(({ transport }) => createClient(ControllerService, transport));
  const presence = controllers.length ? controllerPresence(controllers) : undefined;
  if (!presence) logger.warn("CONTROLLER_URLS is not set: GET /v1/teams/:id/presence answers 503");
  const management = createManagement(config, { ...adapters, presence }, { logger, metrics, checks: adapters.checks });
  const server = serve(config, logger, { fetch: management.fetch, maxRequestBodySize: management.maxRequestBodySize });
  const ops = serveOps(config, logger, { metrics: management.metrics, checks: adapters.checks });
  logger.info("listening", { url: `http://${config.host}:${server.port}` });
  return {
    port: server.port!,
    async stop() {
      await server.stop();
      await ops?.stop(true);
      await management.stop();
      await adapters.close();
      logger.info("stopped");
    },
  };
}

if (import.meta.main)
  await runMain("management", startManagement, (config) => {
    requireDistributed("kafka", "mongo")(config);
    // Presigned URLs are built from configuration only: the filesystem store serves its own, on PUBLIC_URL.
    if (!config.s3 && !config.publicUrl) throw new ConfigError("PUBLIC_URL: required when attachments are served by this process (S3_ENDPOINT unset)");
  });
