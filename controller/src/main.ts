import http2 from "node:http2";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { openAdapters } from "@chat/common/adapters/index";
import type { Config } from "@chat/common/config";
import { log } from "@chat/common/log";
import { createMetrics } from "@chat/common/metrics";
import { serveOps } from "@chat/common/serve";
import { requireDistributed, runMain } from "@chat/common/service-main";
import { createController } from "./service";

/** Distributed mode: one controller of the consumer group, serving relays over HTTP/2 (gRPC / Connect). */
export async function startController(config: Config) {
  const logger = log.child({ service: "controller" });
  const metrics = createMetrics();
  const adapters = await openAdapters(config, logger, { log: true, stores: true }, { metrics });
  const controller = createController(config, adapters, { logger, metrics });
  const checks = { ...adapters.checks, ...controller.checks };
  // Uncompressed: an internal link where gzip costs more than it saves (common/src/controller-transports.ts).
  const server = http2.createServer(connectNodeAdapter({ routes: controller.routes, interceptors: controller.interceptors, acceptCompression: [] }));
  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  const ops = serveOps(config, logger, { metrics: controller.metrics, checks });
  controller.start();
  const address = server.address();
  logger.info("listening", { url: `http://${config.host}:${typeof address === "object" && address ? address.port : config.port}`, ops_port: ops?.port });
  return {
    async stop() {
      await controller.stop(); // commits the batch in hand, ends relay streams
      server.close();
      await ops?.stop(true);
      await adapters.close();
      logger.info("stopped");
    },
  };
}

if (import.meta.main) await runMain("controller", startController, requireDistributed("kafka", "mongo"));
