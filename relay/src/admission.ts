import type { Server } from "bun";
import { bearer, type Verifier } from "@chat/common/auth";
import type { Config } from "@chat/common/config";
import { toAppError } from "@chat/common/errors";
import { badRequestUrl, safeUrl } from "@chat/common/http/errors";
import type { Logger } from "@chat/common/log";
import type { Metrics } from "@chat/common/metrics";
import { parseConnectParams } from "./connect-params";
import { httpError } from "./frames";
import { TokenBucket } from "./rate-limit";
import type { SocketRegistry } from "./registry";
import type { SocketData } from "./socket";
import type { Upstream } from "./upstream";

export interface AdmissionDeps {
  limits: Config["limits"];
  sockets: SocketRegistry;
  verify: Verifier;
  upstream: Upstream;
  logger: Logger;
  metrics: Metrics;
  draining: () => boolean;
}

export const WS_PATH = "/v1/ws";

/** Whether a request is for the WebSocket endpoint (a request whose URL does not parse is not). */
export const isWebSocketPath = (req: Request) => safeUrl(req)?.pathname === WS_PATH;

/**
 * `GET /v1/ws`: everything is checked here, before any socket exists — the token, the connect
 * parameters, and membership of every team asked for. A refusal is an HTTP error with the JSON envelope.
 */
export async function admit(deps: AdmissionDeps, req: Request, server: Server<SocketData>): Promise<Response | undefined> {
  if (deps.draining()) return httpError(503, "unavailable", "server shutting down");
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") return httpError(426, "validation", "WebSocket upgrade required");
  const url = safeUrl(req);
  if (!url) return badRequestUrl();
  const token = bearer(req.headers.get("authorization")) ?? url.searchParams.get("access_token") ?? "";
  let user: string, expiresAt: number;
  try {
    ({ user, expiresAt } = await deps.verify(token));
  } catch (err) {
    deps.metrics.wsRejected.inc({ status: "401" });
    return httpError(401, "unauthenticated", toAppError(err).message);
  }
  let named: string[], since: Map<string, number>;
  try {
    ({ named, since } = parseConnectParams(url.searchParams));
  } catch (err) {
    return httpError(400, "validation", toAppError(err).message);
  }
  let mine: string[];
  try {
    mine = (await deps.upstream.client.getUserChannels({ userId: user })).channelIds;
  } catch (err) {
    deps.logger.warn("membership lookup failed", { err: String(err) });
    return httpError(503, "unavailable", "membership service unavailable");
  }
  const mineSet = new Set(mine);
  const channels = named.length ? new Set(named) : mineSet;
  for (const ch of [...channels, ...since.keys()]) {
    if (!mineSet.has(ch) || !channels.has(ch)) {
      deps.metrics.wsRejected.inc({ status: "403" });
      return httpError(403, "forbidden", "not a member of every requested team");
    }
  }
  const data: SocketData = {
    user,
    filtered: named.length > 0,
    channels,
    teams: new Set(mine),
    since,
    ready: false,
    closed: false,
    inbox: [],
    bucket: new TokenBucket(deps.limits.ratePerSec, deps.limits.rateBurst),
    resuming: new Map(),
    openedAt: performance.now(),
    framesIn: 0,
    expiresAt,
    warned: false,
  };
  if (!deps.sockets.reserve(user, deps.limits.socketsPerUser)) {
    deps.metrics.wsRejected.inc({ status: "429" });
    return httpError(429, "rate_limited", `at most ${deps.limits.socketsPerUser} open connections per user`, { "retry-after": "1" });
  }
  if (server.upgrade(req, { data })) return undefined;
  deps.sockets.unreserve(user);
  return httpError(400, "validation", "WebSocket upgrade failed");
}
