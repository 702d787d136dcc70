import type { Server, WebSocketHandler } from "bun";
import { createVerifier, type Verifier } from "@chat/common/auth";
import type { Config } from "@chat/common/config";
import { log, type Logger } from "@chat/common/log";
import { createMetrics, type Metrics } from "@chat/common/metrics";
import { AppError } from "@chat/common/errors";
import type { MessageType } from "@chat/common/message";
import type { MessageLog } from "@chat/common/ports";
import { MemberRole, type Event } from "@chat/proto/chat/v1/controller_pb";
import { admit } from "./admission";
import { Appender } from "./appender";
import { MembershipCache, standingOf, type Role, type Standing } from "./channel-cache";
import { Dedupe } from "./dedupe";
import { ephemeralTap } from "./ephemeral";
import { Fanout } from "./fanout";
import { Inbound } from "./inbound";
import { Lifecycle } from "./lifecycle";
import { Membership } from "./membership";
import { MessageOps } from "./ops/message-ops";
import { Presence } from "./presence";
import { bufferOptions, SocketRegistry } from "./registry";
import { Resumer } from "./resume";
import type { SocketData } from "./socket";
import { DeliveryLag } from "./backpressure";
import { TokenLifetime } from "./token-lifetime";
import { Typing } from "./typing";
import { Upstream, type ControllerClient } from "./upstream";
import { Verdicts } from "./verdicts";
import { LookupGate, VERIFIER_TIMING, type VerifierTiming } from "./verifier";

/** GetMembership's wire role as the relay's cache keeps it. */
const ROLES: Record<MemberRole, Role> = {
  [MemberRole.UNSPECIFIED]: "none",
  [MemberRole.USER]: "user",
  [MemberRole.ADMIN]: "admin",
  [MemberRole.SUPER_ADMIN]: "super_admin",
};

export type { SocketData } from "./socket";

/** What a relay talks to: the log it appends to, and every controller (each streams some channels). */
export interface RelayPorts {
  log: MessageLog;
  controllers: { name: string; client: ControllerClient }[];
}
export interface RelayOverrides {
  verify?: Verifier;
  logger?: Logger;
  metrics?: Metrics;
  /** client_msg_id verdict timing (tests shorten it). */
  verifier?: Partial<VerifierTiming>;
  verdictWaitMs?: number;
}

/** How long a client waits for the verdict on a verified send before it is told to resend. */
const VERDICT_WAIT_MS = 5000;

/**
 * The WebSocket edge, wired: `fetch` upgrades `GET /v1/ws` after every check, `websocket` is
 * Bun's handler set, `start(server)` opens the controller streams and publishing through the
 * server, `stop()` drains. Each responsibility lives in its own module; this file only wires them.
 */
export function createRelay(config: Config, ports: RelayPorts, overrides: RelayOverrides = {}) {
  const limits = config.limits;
  const logger = overrides.logger ?? log.child({ service: "relay", relay_id: config.relayId });
  const metrics = overrides.metrics ?? createMetrics();
  const verify = overrides.verify ?? createVerifier(config.auth);

  let fanout: Fanout | undefined; // the upstream calls into it; built just below
  const verdicts = new Verdicts();
  let ephemeral: ((events: Event[]) => Event[]) | undefined; // typing and presence, taken out before the fanout
  let presence: Presence | undefined;
  const upstream = new Upstream(
    ports.controllers,
    config.relayId,
    (events) => {
      verdicts.notify(events);
      fanout!.dispatch(ephemeral!(events));
    },
    (channels) => {
      fanout!.recoverAll(channels);
      presence!.renew(); // the controller may have restarted with an empty presence table
    },
    logger,
  );
  const cache = new MembershipCache(async (channelId, userId): Promise<Standing> => {
    const r = await upstream.client.getMembership({ channelId, userId });
    return { found: r.found, active: r.active, role: ROLES[r.role] ?? "none" };
  });
  const sockets = new SocketRegistry(limits.wsBufferBytes, metrics);
  const resumer = new Resumer(sockets, upstream, (ch) => fanout!.delivered(ch), logger);
  const lag = new DeliveryLag(limits.deliveryLagMs, (ch, seq) => (fanout!.delivered(ch) ?? 0) >= seq);
  const dropInterest = (ch: string) => {
    upstream.remove(ch);
    if (upstream.has(ch)) return;
    fanout!.forget(ch);
    lag.forget(ch);
  };
  const membership = new Membership(sockets, cache, upstream, resumer, dropInterest, logger);
  fanout = new Fanout(sockets, cache, upstream, resumer, membership, logger);
  const appender = new Appender(ports.log, limits.pendingAppends);
  const tokens = new TokenLifetime(sockets, verify);
  const messageOps = new MessageOps({
    limits,
    sockets,
    appender,
    standing: (ch, user) => standingOf(cache, ch, user, logger),
    lookup: async (channelId, id) => {
      const r = await upstream.client.getMessage({ channelId, id });
      if (!r.found) return null;
      const m = { id: r.id, channel_id: r.channelId, seq: Number(r.seq), from: r.from, to: r.to, type: r.type as MessageType, deleted: r.deleted, emoji: r.emoji };
      return r.replyTo ? { ...m, reply_to: r.replyTo } : m;
    },
    logger,
    metrics,
  });
  const lookup = async (channelId: string, user: string, clientMsgId: string) => {
    metrics.clientMsgIdChecks.inc();
    try {
      const r = await upstream.client.lookupClientMessage({ channelId, user, clientMsgId, waitMs: 0 }, { timeoutMs: 3000 });
      return r.found ? { id: r.id, seq: Number(r.seq), ts: r.ts } : null;
    } catch (err) {
      logger.debug("client_msg_id lookup failed", { channel_id: channelId, err: String(err) });
      throw new AppError("unavailable", "message store unavailable; resend with the same client_msg_id");
    }
  };
  const timing = { ...VERIFIER_TIMING, ...overrides.verifier };
  const dedupe = new Dedupe(limits.dedupeWindowMs, limits.dedupeEntries);
  presence = new Presence({ relayId: config.relayId, leaseMs: config.presence.leaseMs, controllers: ports.controllers, sockets, standing: (ch, user) => cache.get(ch, user), interested: (ch) => upstream.has(ch), logger });
  const typing = new Typing({ relayId: config.relayId, sockets, cache, controllerFor: (ch) => upstream.clientFor(ch), logger });
  ephemeral = ephemeralTap(presence, typing);
  const inbound = new Inbound({
    limits,
    sockets,
    cache,
    appender,
    dedupe,
    lookups: new LookupGate(lookup, timing.concurrency, timing.sparePerSec),
    watch: (ch, id) => verdicts.watch(ch, id),
    verifier: timing,
    verdictWaitMs: overrides.verdictWaitMs ?? VERDICT_WAIT_MS,
    tokens,
    messageOps,
    ops: { typing: typing.handle },
    logger,
    metrics,
    draining: () => draining,
    lag,
  });
  const lifecycle = new Lifecycle(sockets, upstream, resumer, inbound, tokens, dropInterest, logger);

  let server: Server<SocketData> | undefined;
  let draining = false;

  const websocket: WebSocketHandler<SocketData> = {
    maxPayloadLength: Math.max(limits.frameBytes * 4, 64 * 1024), // larger frames get a too_large error, not a close
    ...bufferOptions(limits.wsBufferBytes), // the sweep closes at the limit with 1013, Bun at twice it with 1006
    idleTimeout: 120,
    sendPings: true,
    perMessageDeflate: false,
    open: (ws) => {
      lifecycle.open(ws);
      presence.touch(ws.data.user);
    },
    message: (ws, raw) => inbound.receive(ws, raw),
    close: (ws, code) => {
      lifecycle.close(ws, code);
      presence.touch(ws.data.user);
    },
  };

  return {
    /** `GET /v1/ws`: the upgrade, or an HTTP error with the JSON envelope. */
    fetch: (req: Request, srv: Server<SocketData>) =>
      admit({ limits, sockets, verify, upstream, logger, metrics, draining: () => draining }, req, srv),
    websocket,
    /** Readiness: at least one controller stream is open. */
    checks: {
      controllers: async () => {
        if (upstream.connected === 0) throw new Error("no controller stream");
      },
    } as Record<string, () => Promise<void>>,
    metrics,
    /** Opens the controller streams and publishes through `srv` (the Bun server serving `websocket`). */
    start(srv: Server<SocketData>): void {
      server = srv;
      sockets.start(srv);
      upstream.start();
      presence.start();
      typing.start();
    },
    /** Resolves once the controller streams are open (used at start-up and by readiness). */
    whenConnected: () => upstream.whenConnected(),
    get connectedControllers() {
      return upstream.connected;
    },
    get openSockets() {
      return sockets.size;
    },
    /**
     * Graceful stop: the server stops accepting at once and new frames are answered `unavailable`;
     * what was accepted becomes durable and is acked on its socket; then sockets are closed (1001);
     * connections still open after 10 s are cut.
     */
    async stop(): Promise<void> {
      draining = true;
      const closed = server?.stop();
      sockets.stop();
      tokens.stop();
      await appender.drain();
      await new Promise((resolve) => setImmediate(resolve)); // the acks' continuations run: they go out on sockets still open
      for (const ws of sockets.all()) ws.close(1001, "server shutting down");
      typing.stop();
      await presence.stop();
      upstream.stop();
      if (closed) await Promise.race([closed, Bun.sleep(10_000).then(() => server!.stop(true))]);
    },
  };
}
export type Relay = ReturnType<typeof createRelay>;
