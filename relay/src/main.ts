import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { openAdapters } from "@chat/common/adapters/index";
import { createVerifier } from "@chat/common/auth";
import { ConfigError, type Config } from "@chat/common/config";
import { log, redactString } from "@chat/common/log";
import { createMetrics } from "@chat/common/metrics";
import { opsFetch } from "@chat/common/ops";
import { requireDistributed, runMain } from "@chat/common/service-main";
import { ControllerService } from "@chat/proto/chat/v1/controller_pb";
import { Relay, type SocketData } from "./service";

/** Distributed mode: a relay producing to Kafka and subscribed to every controller over HTTP/2. */
export async function startRelay(config: Config) {
  const logger = log.child({ service: "relay", relay_id: config.relayId });
  const metrics = createMetrics();
  const adapters = await openAdapters(config, logger, { log: true });
  const auth: Interceptor = (next) => (req) => {
    if (config.controllerToken) req.header.set("authorization", `Bearer ${config.controllerToken}`);
    return next(req);
  };
  const controllers = config.controllerUrls.map((baseUrl) => ({
    name: redactString(baseUrl),
    client: createClient(ControllerService, createGrpcTransport({ baseUrl, interceptors: [auth] })),
  }));
  const relay = new Relay({ config, verify: createVerifier(config.auth), log: adapters.log, controllers, logger, metrics });
  relay.start();
  const checks = {
    ...adapters.checks,
    controllers: async () => {
      if (relay.connectedControllers === 0) throw new Error("no controller stream");
    },
  };
  const server = Bun.serve<SocketData>({
    port: config.port,
    hostname: config.host,
    fetch: async (req, server) =>
      new URL(req.url).pathname === "/v1/ws"
        ? relay.upgrade(req, server)
        : opsFetch(req, { metrics, metricsToken: config.metricsToken, checks }),
    websocket: relay.websocket,
  });
  relay.attach(server);
  logger.info("listening", { url: `http://${config.host}:${server.port}`, controllers: controllers.map((c) => c.name) });
  return {
    async stop() {
      await relay.stop();
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
