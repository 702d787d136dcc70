import http2 from "node:http2";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { openAdapters } from "@chat/common/adapters/index";
import type { Config } from "@chat/common/config";
import { log } from "@chat/common/log";
import { createMetrics } from "@chat/common/metrics";
import { opsFetch } from "@chat/common/ops";
import { requireDistributed, runMain } from "@chat/common/service-main";
import { createController } from "./service";

/** Distributed mode: one controller of the consumer group, serving relays over HTTP/2 (gRPC / Connect). */
export async function startController(config: Config) {
  const logger = log.child({ service: "controller" });
  const metrics = createMetrics();
  const adapters = await openAdapters(config, logger, { log: true, stores: true });
  const controller = createController({
    log: adapters.log,
    teams: adapters.teams,
    messages: adapters.messages,
    logger,
    metrics,
    group: config.kafka!.group,
    token: config.controllerToken,
    onFatal: (err) => {
      logger.error("consumer stopped for good; exiting to be restarted", { err });
      process.exit(1);
    },
  });
  const handler = connectNodeAdapter({ routes: controller.routes, interceptors: controller.interceptors });
  const server = http2.createServer(handler);
  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  const ops = config.opsPort !== undefined
    ? Bun.serve({
        port: config.opsPort,
        hostname: config.host,
        fetch: (req) => opsFetch(req, { metrics, metricsToken: config.metricsToken, checks: adapters.checks }),
      })
    : undefined;
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
