import type { Config } from "../config";
import { createCors, type Cors } from "./cors";
import { badRequestUrl, safeUrl } from "./errors";
import { clientAddress, type AddressSource } from "./rate-limit";

/** Set by the edge for the router behind it (any client-sent value is dropped first). */
export const CLIENT_ADDRESS_HEADER = "x-chat-client-address";

export interface EdgeOptions {
  /** Path prefix of uploads that stream to disk (the filesystem object store): handed on untouched. */
  uploadPrefix?: string;
}

export type EdgeNext = (req: Request) => Response | Promise<Response>;

/**
 * What every REST request meets before the router (PROTOCOL §8): a URL that parses, CORS (preflights
 * answered here, answers decorated), and the client's address as this server can trust it (the socket
 * peer, or X-Forwarded-For from a trusted proxy) for the router's per-address limits. Body, query and
 * rate rules live in the router, so that `app.handle` enforces them in every host.
 */
export function createEdge(config: Pick<Config, "corsOrigins" | "proxy">, opts: EdgeOptions = {}) {
  const cors: Cors = createCors({ origins: config.corsOrigins });
  const proxy = { trustProxy: config.proxy.trust, trustedProxies: config.proxy.addresses };

  async function handle(req: Request, server: AddressSource, next: EdgeNext): Promise<Response> {
    const url = safeUrl(req);
    if (!url) return badRequestUrl();
    const preflight = cors.preflight(req);
    if (preflight) return preflight;
    if (opts.uploadPrefix !== undefined && url.pathname.startsWith(opts.uploadPrefix + "/")) return cors.decorate(req, await next(req)); // streamed to disk; its URL is its authorization
    const forward = new Request(req);
    forward.headers.set(CLIENT_ADDRESS_HEADER, clientAddress(req, server, proxy) ?? "unknown");
    return cors.decorate(req, await next(forward));
  }

  return { handle, cors };
}
export type Edge = ReturnType<typeof createEdge>;
