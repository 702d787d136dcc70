import { createClient, createRouterTransport } from "@connectrpc/connect";
import { openAdapters } from "@chat/common/adapters/index";
import { ensureDevSecret } from "@chat/common/auth";
import type { Config } from "@chat/common/config";
import { log } from "@chat/common/log";
import { createMetrics } from "@chat/common/metrics";
import { lockDataDir } from "@chat/common/http/data-dir-lock";
import { serve, serveOps } from "@chat/common/serve";
import { runMain } from "@chat/common/service-main";
import { createController } from "@chat/controller/service";
import { controllerPresence } from "@chat/management/presence/reader";
import { createManagement } from "@chat/management/service";
import { ControllerService } from "@chat/proto/chat/v1/controller_pb";
import { isWebSocketPath } from "@chat/relay/admission";
import { createRelay, type SocketData } from "@chat/relay/service";

/**
 * Standalone mode: the same three service factories as in distributed mode, composed in one
 * process over embedded adapters, with Connect's in-memory transport between relay and controller.
 */
export async function startStandalone(base: Config) {
  const logger = log.child({ service: "standalone" });
  const lock = lockDataDir(base.dataDir); // a second process on the same DATA_DIR stops here, naming the holder

  // With no secret configured, one generated once under DATA_DIR (mode 0600) signs and verifies dev tokens.
  const config: Config = Object.freeze({ ...base, auth: { ...base.auth, jwtSecret: ensureDevSecret(base.dataDir, base.auth.jwtSecret) } });
  const metrics = createMetrics(); // one registry for the process
  const adapters = await openAdapters(config, logger, { log: true, stores: true, objects: true }, { metrics });

  const controller = createController(config, adapters, { logger: logger.child({ component: "controller" }), metrics });
  const inProcess = createRouterTransport(controller.routes, { router: { interceptors: controller.interceptors } });
  const relay = createRelay(
    config,
    // Unary calls through the in-memory transport; the Subscribe stream straight from the handler (nothing to encode in one process).
    { log: adapters.log, controllers: [{ name: "in-process", client: { ...createClient(ControllerService, inProcess), subscribe: controller.subscribe } }] },
    { logger: logger.child({ component: "relay" }), metrics },
  );
  // Signing with its own generated secret (no auth service configured): the web app offers a dev sign-in.
  const devSecret = !base.auth.jwtSecret && !base.auth.jwksUrl;
  let publicUrl = config.publicUrl; // else the address bound below: URLs handed out never come from a request's Host
  const checks = { ...adapters.checks, ...controller.checks, ...relay.checks };
  const management = createManagement(config, { ...adapters, presence: controllerPresence([createClient(ControllerService, inProcess)]) }, {
    logger: logger.child({ component: "management" }),
    metrics,
    checks,
    publicUrl: () => publicUrl,
    devLogin: devSecret ? { secret: config.auth.jwtSecret!, allowRemote: config.devLoginRemote } : undefined,
  });

  controller.start();
  const server = serve<SocketData>(config, logger, {
    fetch: (req, srv) => (isWebSocketPath(req) ? relay.fetch(req, srv) : management.fetch(req, srv)),
    websocket: relay.websocket,
    maxRequestBodySize: management.maxRequestBodySize,
  });
  publicUrl ??= `http://${config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host}:${server.port}`;
  relay.start(server);
  const ops = serveOps(config, logger, { metrics, checks });
  await relay.whenConnected();
  logger.info("listening", { url: `http://${config.host}:${server.port}`, data_dir: config.dataDir });
  console.log(`\n  Chat app:  ${publicUrl}/${devSecret ? "   (dev sign-in: type any user id)" : ""}\n  API docs:  ${publicUrl}/v1/docs\n`);

  return {
    port: server.port!,
    /** Graceful: stop accepting, close sockets, make accepted messages durable, then stop consuming. */
    async stop() {
      await relay.stop(); // stops the server accepting, closes sockets with 1001, makes accepted messages durable
      await management.stop();
      await controller.stop();
      await ops?.stop(true);
      await adapters.close();
      lock.release();
      logger.info("stopped");
    },
  };
}

if (import.meta.main) await runMain("standalone", startStandalone);
