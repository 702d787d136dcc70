import type { Config } from "../config";
import { errorResponse } from "../errors";
import { withBody } from "./body";
import { createCors, type Cors } from "./cors";
import { badRequestUrl, safeUrl } from "./errors";
import { parseJsonRequest } from "./json";
import { addressRateKey, clientAddress, rateLimitedResponse, TokenBuckets, type AddressSource } from "./rate-limit";

/** Set by the edge for the router behind it (any client-sent value is dropped first). */
export const CLIENT_ADDRESS_HEADER = "x-chat-client-address";
const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
/** Liveness, readiness and metrics are polled by machines and never rate limited. */
const UNLIMITED = new Set(["/v1/health", "/v1/ready", "/v1/metrics"]);

export interface EdgeOptions {
  /** Path prefix of uploads that stream to disk (the filesystem object store): no JSON rule, the attachment limit. */
  uploadPrefix?: string;
}

/** PROTOCOL §8: a repeated query parameter is a 400 on every REST route (none takes a list). */
function hasRepeatedParameter(params: URLSearchParams): boolean {
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (seen.has(key)) return true;
    seen.add(key);
  }
  return false;
}

export type EdgeNext = (req: Request) => Response | Promise<Response>;

/**
 * What every REST request meets before any router or authentication (PROTOCOL §7, §8): a URL that
 * parses, CORS preflights, a rate limit per client address for requests without a token (per user
 * after authentication, in the router), and JSON bodies read once under the size limit — 413 before
 * reading a declared or streamed body that is too large, 415 for other media types, 400 for
 * malformed JSON or prototype keys. The router gets the bytes read, and the client's address.
 */
export function createEdge(config: Pick<Config, "limits" | "corsOrigins" | "proxy">, opts: EdgeOptions = {}) {
  const cors: Cors = createCors({ origins: config.corsOrigins });
  const limiter = new TokenBuckets({ rate: config.limits.restPerSec, burst: config.limits.restBurst });
  const proxy = { trustProxy: config.proxy.trust, trustedProxies: config.proxy.addresses };

  async function handle(req: Request, server: AddressSource, next: EdgeNext): Promise<Response> {
    const url = safeUrl(req);
    if (!url) return badRequestUrl();
    if (hasRepeatedParameter(url.searchParams)) return cors.decorate(req, errorResponse("validation", "a query parameter is repeated"));
    const preflight = cors.preflight(req);
    if (preflight) return preflight;
    const address = clientAddress(req, server, proxy) ?? "unknown";
    if (!req.headers.has("authorization") && !UNLIMITED.has(url.pathname)) {
      const t = limiter.take(`addr:${addressRateKey(address)}`);
      if (!t.ok) return cors.decorate(req, rateLimitedResponse(t.retryAfterSec));
    }
    const upload = opts.uploadPrefix !== undefined && url.pathname.startsWith(opts.uploadPrefix + "/");
    let body: Uint8Array | undefined;
    if (!upload && BODY_METHODS.has(req.method)) {
      const parsed = await parseJsonRequest(req, { limit: config.limits.jsonBodyBytes, allowEmpty: true });
      if (!parsed.ok) return cors.decorate(req, parsed.error.response());
      body = parsed.bytes;
    }
    if (upload) return cors.decorate(req, await next(req)); // streamed to disk as it arrives; its URL is its authorization
    const forward = body ? withBody(req, body) : new Request(req);
    forward.headers.set(CLIENT_ADDRESS_HEADER, address);
    return cors.decorate(req, await next(forward));
  }

  return { handle, limiter, cors };
}
export type Edge = ReturnType<typeof createEdge>;
