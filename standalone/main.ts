import { createClient, createRouterTransport } from "@connectrpc/connect";
import { openAdapters } from "@chat/common/adapters/index";
import { createVerifier, ensureDevSecret } from "@chat/common/auth";
import type { Config } from "@chat/common/config";
import { log } from "@chat/common/log";
import { runMain } from "@chat/common/service-main";
import { createMetrics } from "@chat/common/metrics";
import { createController } from "@chat/controller/service";
import { createManagementApp } from "@chat/management/app";
import { ControllerService } from "@chat/proto/chat/v1/controller_pb";
import { Relay, type SocketData } from "@chat/relay/service";

/**
 * Standalone mode: relay, controller and management in one process, the same services as
 * in distributed mode, wired through embedded adapters and Connect's in-memory transport.
 */
export async function startStandalone(config: Config) {
  const logger = log.child({ service: "standalone" });
  const metrics = createMetrics();
  const jwtSecret = ensureDevSecret(config.dataDir, config.auth.jwtSecret);
  const verify = createVerifier({ ...config.auth, jwtSecret });
  const adapters = await openAdapters(config, logger, { log: true, stores: true, objects: true });

  const controller = createController({
    log: adapters.log,
    teams: adapters.teams,
    messages: adapters.messages,
    logger: logger.child({ component: "controller" }),
    metrics,
    group: config.kafka?.group ?? "controllers",
    onFatal: (err) => {
      logger.error("controller stopped consuming", { err });
      process.exit(1);
    },
  });
  const transport = createRouterTransport(controller.routes, { router: { interceptors: controller.interceptors } });
  const relay = new Relay({
    config,
    verify,
    log: adapters.log,
    controllers: [{ name: "in-process", client: createClient(ControllerService, transport) }],
    logger: logger.child({ component: "relay" }),
    metrics,
  });
  const management = createManagementApp({
    config,
    verify,
    teams: adapters.teams,
    messages: adapters.messages,
    log: adapters.log,
    objects: adapters.objects,
    logger: logger.child({ component: "management" }),
    metrics,
    checks: adapters.checks,
  });

  controller.start();
  relay.start();
  await relay.whenConnected();
  const server = Bun.serve<SocketData>({
    port: config.port,
    hostname: config.host,
    fetch: (req, server) => (new URL(req.url).pathname === "/v1/ws" ? relay.upgrade(req, server) : management.handle(req)),
    websocket: relay.websocket,
  });
  relay.attach(server);
  logger.info("listening", { url: `http://${config.host}:${server.port}`, data_dir: config.dataDir });

  return {
    port: server.port!,
    /** Graceful: stop accepting, close sockets, make accepted messages durable, then stop consuming. */
    async stop() {
      await relay.stop(); // stops the server accepting, closes sockets with 1001, makes accepted messages durable
      await controller.stop();
      await adapters.close();
      logger.info("stopped");
    },
  };
}

if (import.meta.main) await runMain("standalone", startStandalone);
