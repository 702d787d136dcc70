import type { Server, WebSocketHandler } from "bun";
import type { Config } from "./config";
import type { Logger } from "./log";

export interface ServeOptions<T> {
  fetch: (req: Request, server: Server<T>) => Response | undefined | Promise<Response | undefined>;
  websocket?: WebSocketHandler<T>;
  /** Bun refuses larger bodies itself; routes enforce their own, smaller limits. */
  maxRequestBodySize?: number;
}

/**
 * Every public HTTP server of every service: never Bun's development error page, and an
 * exception that escapes a handler becomes an opaque JSON 500 (logged, never sent).
 */
export function serve<T>(config: Pick<Config, "port" | "host" | "httpIdleTimeoutSec">, logger: Logger, opts: ServeOptions<T>): Server<T> {
  const server = Bun.serve<T>({
    port: config.port,
    hostname: config.host,
    development: false,
    idleTimeout: config.httpIdleTimeoutSec, // also bounds a WebSocket handshake that never completes
    maxRequestBodySize: opts.maxRequestBodySize,
    fetch: opts.fetch as (req: Request, server: Server<T>) => Promise<Response>,
    websocket: opts.websocket as WebSocketHandler<T>,
    error(err) {
      logger.error("request failed", { err });
      return Response.json({ error: { code: "internal", message: "internal error" } }, { status: 500 });
    },
  });
  return server;
}
