import { createClient } from "@connectrpc/connect";
import { openAdapters } from "@chat/common/adapters/index";
import { controllerTransports } from "@chat/common/controller-transports";
import { ConfigError, type Config } from "@chat/common/config";
import { log, redactString } from "@chat/common/log";
import { createMetrics } from "@chat/common/metrics";
import { opsFetch } from "@chat/common/ops";
import { serve, serveOps } from "@chat/common/serve";
import { requireDistributed, runMain } from "@chat/common/service-main";
import { ControllerService } from "@chat/proto/chat/v1/controller_pb";
import { isWebSocketPath } from "./admission";
import { createRelay, type SocketData } from "./service";

/** Every controller of the group over HTTP/2, presenting CONTROLLER_TOKEN. */
const grpcControllers = (config: Config) => controllerTransports(config).map(({ name, transport }) => ({ name, client: createClient(ControllerService, transport) }));

/** Distributed mode: a relay producing to Kafka and subscribed to every controller over HTTP/2. */
export async function startRelay(config: Config) {
  const logger = log.child({ service: "relay", relay_id: config.relayId });
  const metrics = createMetrics();
  const adapters = await openAdapters(config, logger, { log: true }, { metrics });
  const relay = createRelay(config, { log: adapters.log, controllers: grpcControllers(config) }, { logger, metrics });
  const checks = { ...adapters.checks, ...relay.checks };
  const server = serve<SocketData>(config, logger, {
    fetch: (req, srv) => (isWebSocketPath(req) ? relay.fetch(req, srv) : opsFetch(req, { metrics: relay.metrics, metricsToken: config.metricsToken, checks })),
    websocket: relay.websocket,
  });
  relay.start(server);
  const ops = serveOps(config, logger, { metrics: relay.metrics, checks });
  logger.info("listening", { url: `http://${config.host}:${server.port}`, controllers: config.controllerUrls.map(redactString) });
  return {
    async stop() {
      await relay.stop();
      await ops?.stop(true);
      await adapters.close(); // flushes the producer
      logger.info("stopped");
    },
  };
}

if (import.meta.main)
  await runMain("relay", startRelay, (config) => {
    requireDistributed("kafka")(config);
    if (!config.controllerUrls.length) throw new ConfigError("CONTROLLER_URLS: required for a relay (comma-separated http://host:port)");
  });
