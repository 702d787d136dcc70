import { openAdapters } from "@chat/common/adapters/index";
import type { Config } from "@chat/common/config";
import { log } from "@chat/common/log";
import { serve } from "@chat/common/serve";
import { requireDistributed, runMain } from "@chat/common/service-main";
import { createManagement } from "./service";

/** Distributed mode: the management API alone, on MongoDB / Kafka / S3. */
export async function startManagement(config: Config) {
  const logger = log.child({ service: "management" });
  const adapters = await openAdapters(config, logger, { log: true, stores: true, objects: true });
  const management = createManagement(config, adapters, { logger, checks: adapters.checks });
  const server = serve(config, logger, { fetch: management.fetch, maxRequestBodySize: management.maxRequestBodySize });
  logger.info("listening", { url: `http://${config.host}:${server.port}` });
  return {
    port: server.port!,
    async stop() {
      await server.stop();
      await management.stop();
      await adapters.close();
      logger.info("stopped");
    },
  };
}

if (import.meta.main) await runMain("management", startManagement, requireDistributed("kafka", "mongo"));
