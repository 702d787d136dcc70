import type { Server, WebSocketHandler } from "bun";
import type { Config } from "./config";
import { hardenedServeOptions } from "./http/errors";
import type { Logger } from "./log";
import type { Metrics } from "./metrics";
import { opsFetch } from "./ops";

export interface ServeOptions<T> {
  fetch: (req: Request, server: Server<T>) => Response | undefined | Promise<Response | undefined>;
  websocket?: WebSocketHandler<T>;
  /** Bun refuses larger bodies itself; routes enforce their own, smaller limits. */
  maxRequestBodySize?: number;
}

/**
 * Every HTTP server of every service: never Bun's development error page, an exception that
 * escapes a handler becomes an opaque JSON 500 (logged, never sent), idle connections closed.
 */
export function serve<T>(config: Pick<Config, "port" | "host" | "httpIdleTimeoutSec">, logger: Logger, opts: ServeOptions<T>): Server<T> {
  return Bun.serve<T>({
    port: config.port,
    hostname: config.host,
    idleTimeout: config.httpIdleTimeoutSec, // also bounds a WebSocket handshake that never completes
    maxRequestBodySize: opts.maxRequestBodySize,
    fetch: opts.fetch as (req: Request, server: Server<T>) => Promise<Response>,
    websocket: opts.websocket as WebSocketHandler<T>,
    ...hardenedServeOptions((err) => logger.error("request failed", { err })),
  });
}

/** OPS_PORT, when set: /v1/health, /v1/ready and /v1/metrics (no token needed) for operators only. */
export function serveOps(
  config: Pick<Config, "opsPort" | "host" | "httpIdleTimeoutSec" | "metricsToken">,
  logger: Logger,
  deps: { metrics: Metrics; checks: Record<string, () => Promise<void>> },
): Server<unknown> | undefined {
  if (config.opsPort === undefined) return undefined;
  const ops = serve({ ...config, port: config.opsPort }, logger.child({ component: "ops" }), {
    fetch: (req) => opsFetch(req, { ...deps, metricsToken: config.metricsToken, privatePort: true }),
  });
  logger.info("ops listening", { url: `http://${config.host}:${ops.port}` });
  return ops;
}
