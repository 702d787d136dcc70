import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import { bearer, type Verifier } from "@chat/common/auth";
import type { Config } from "@chat/common/config";
import { AppError, toAppError } from "@chat/common/errors";
import { objectId } from "@chat/common/ids";
import type { Logger } from "@chat/common/log";
import { parseOutgoing, type LogEntry } from "@chat/common/message";
import type { Metrics } from "@chat/common/metrics";
import type { MessageLog } from "@chat/common/ports";
import { EventKind, type Event } from "@chat/proto/chat/v1/controller_pb";
import { Appender } from "./appender";
import { ChannelCache, type ChannelInfo } from "./channel-cache";
import { parseConnectParams } from "./connect-params";
import { Dedupe } from "./dedupe";
import { ackFrame, channelLeftFrame, errorFrame, errorFrameOf, httpError, readyFrame } from "./frames";
import { TokenBucket } from "./rate-limit";
import { Upstream, type ControllerClient } from "./upstream";

export interface RelayDeps {
  config: Config;
  verify: Verifier;
  log: MessageLog;
  controllers: { name: string; client: ControllerClient }[];
  logger: Logger;
  metrics: Metrics;
}

interface Resume {
  floor: number;
  buffer: Event[];
}

export interface SocketData {
  user: string;
  /** Set when the client named its teams with ?channel_id: it then never joins others. */
  filtered: boolean;
  channels: Set<string>;
  since: Map<string, number>;
  ready: boolean;
  closed: boolean;
  inbox: string[];
  bucket: TokenBucket;
  resuming: Map<string, Resume>;
  openedAt: number;
  framesIn: number;
}
type WS = ServerWebSocket<SocketData>;

const FETCH_PAGE = 1000;
const MAX_RESUME_BUFFER = 10_000;
const broadcastTopic = (ch: string) => `c:${ch}`;
const directTopic = (ch: string, user: string) => `d:${ch}:${user}`;
const visible = (ev: Event, user: string) => ev.kind !== EventKind.MESSAGE || ev.to === "*" || ev.to === user || ev.from === user;

/**
 * The WebSocket edge: authenticates before upgrade, validates and authorizes each frame,
 * stamps id/from/ts, appends to the log and acks once durable; fans out what the
 * controllers stream to it through Bun topics (one publish per event, whatever the audience).
 */
export class Relay {
  private server: Server<SocketData> | undefined;
  private readonly upstream: Upstream;
  private readonly appender: Appender;
  private readonly cache: ChannelCache;
  private readonly dedupe: Dedupe;
  private readonly sockets = new Set<WS>();
  private readonly userSockets = new Map<string, Set<WS>>();
  private readonly lastSeq = new Map<string, number>();
  private readonly catchingUp = new Map<string, Set<WS>>();
  private readonly syncing = new Map<string, Event[]>();
  private sweepTimer: Timer | undefined;
  private draining = false;
  private readonly limits: Config["limits"];
  private readonly logger: Logger;

  constructor(private readonly deps: RelayDeps) {
    this.limits = deps.config.limits;
    this.logger = deps.logger;
    this.upstream = new Upstream(deps.controllers, deps.config.relayId, (evs) => this.dispatch(evs), (chs) => this.recoverAll(chs), deps.logger);
    this.appender = new Appender(deps.log, this.limits.pendingAppends);
    this.dedupe = new Dedupe(this.limits.dedupeWindowMs, this.limits.dedupeEntries);
    this.cache = new ChannelCache(async (channelId): Promise<ChannelInfo> => {
      const r = await this.upstream.client.getChannel({ channelId });
      return { found: r.found, active: r.active, members: new Set(r.members) };
    });
  }

  /** Bun's WebSocket options and handlers for Bun.serve. */
  get websocket(): WebSocketHandler<SocketData> {
    return {
      maxPayloadLength: Math.max(this.limits.frameBytes * 4, 64 * 1024), // larger frames get a too_large error, not a close
      // Past twice our limit Bun drops what is published to a socket (a gap its client recovers with
      // ?since on reconnect); the sweep closes such a socket with 1013 within 50 ms of crossing the limit.
      backpressureLimit: this.limits.wsBufferBytes * 2,
      closeOnBackpressureLimit: false,
      idleTimeout: 120,
      sendPings: true,
      perMessageDeflate: false,
      open: (ws) => this.onOpen(ws),
      message: (ws, raw) => this.onMessage(ws, raw),
      close: (ws, code) => this.onClose(ws, code),
    };
  }

  attach(server: Server<SocketData>): void {
    this.server = server;
  }

  start(): void {
    this.upstream.start();
    this.sweepTimer = setInterval(() => this.sweep(), 50);
  }

  /** Resolves once the controller streams are open (used at start-up and by readiness). */
  whenConnected(): Promise<void> {
    return this.upstream.whenConnected();
  }

  get connectedControllers(): number {
    return this.upstream.connected;
  }

  get openSockets(): number {
    return this.sockets.size;
  }

  /**
   * Graceful stop: the attached server stops accepting at once, sockets are closed (1001), accepted
   * messages become durable; connections still open after 10 s are cut.
   */
  async stop(): Promise<void> {
    this.draining = true;
    const closed = this.server?.stop();
    clearInterval(this.sweepTimer);
    for (const ws of this.sockets) ws.close(1001, "server shutting down");
    await this.appender.drain();
    this.upstream.stop();
    if (closed) await Promise.race([closed, Bun.sleep(10_000).then(() => this.server!.stop(true))]);
  }

  /** `GET /v1/ws`: everything is checked here, before any socket exists. */
  async upgrade(req: Request, server: Server<SocketData>): Promise<Response | undefined> {
    if (this.draining) return httpError(503, "unavailable", "server shutting down");
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") return httpError(426, "validation", "WebSocket upgrade required");
    const url = new URL(req.url);
    const token = bearer(req.headers.get("authorization")) ?? url.searchParams.get("access_token") ?? "";
    let user: string;
    try {
      user = (await this.deps.verify(token)).user;
    } catch (err) {
      this.deps.metrics.wsRejected.inc({ status: "401" });
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
      mine = (await this.upstream.client.getUserChannels({ userId: user })).channelIds;
    } catch (err) {
      this.logger.warn("membership lookup failed", { err: String(err) });
      return httpError(503, "unavailable", "membership service unavailable");
    }
    const mineSet = new Set(mine);
    const channels = named.length ? new Set(named) : mineSet;
    for (const ch of [...channels, ...since.keys()]) {
      if (!mineSet.has(ch) || !channels.has(ch)) {
        this.deps.metrics.wsRejected.inc({ status: "403" });
        return httpError(403, "forbidden", "not a member of every requested team");
      }
    }
    const data: SocketData = {
      user,
      filtered: named.length > 0,
      channels,
      since,
      ready: false,
      closed: false,
      inbox: [],
      bucket: new TokenBucket(this.limits.ratePerSec, this.limits.rateBurst),
      resuming: new Map(),
      openedAt: performance.now(),
      framesIn: 0,
    };
    if (!server.upgrade(req, { data })) return httpError(400, "validation", "WebSocket upgrade failed");
    return undefined;
  }

  // ---- socket lifecycle ----

  private onOpen(ws: WS): void {
    this.sockets.add(ws);
    let mine = this.userSockets.get(ws.data.user);
    if (!mine) this.userSockets.set(ws.data.user, (mine = new Set()));
    mine.add(ws);
    this.deps.metrics.wsConnections.inc();
    const interest = [...ws.data.channels].map((ch) => this.upstream.add(ch));
    void Promise.all(interest).then(() => this.becomeReady(ws));
  }

  private becomeReady(ws: WS): void {
    if (ws.data.closed) return;
    this.send(ws, readyFrame(ws.data.user, ws.data.channels));
    for (const ch of ws.data.channels) {
      const after = ws.data.since.get(ch);
      if (after === undefined) this.subscribeTopics(ws, ch);
      else void this.resume(ws, ch, after);
    }
    ws.data.ready = true;
    for (const raw of ws.data.inbox.splice(0)) void this.handle(ws, raw);
  }

  private onClose(ws: WS, code: number): void {
    ws.data.closed = true;
    // One summary line per connection (the token never reaches the log).
    this.logger.info("socket closed", {
      user: ws.data.user,
      code,
      channels: ws.data.channels.size,
      frames_in: ws.data.framesIn,
      ms: Math.round(performance.now() - ws.data.openedAt),
    });
    this.sockets.delete(ws);
    const mine = this.userSockets.get(ws.data.user);
    mine?.delete(ws);
    if (mine?.size === 0) this.userSockets.delete(ws.data.user);
    for (const ch of ws.data.channels) this.dropInterest(ch);
    for (const ch of ws.data.resuming.keys()) this.catchingUp.get(ch)?.delete(ws);
    this.deps.metrics.wsConnections.dec();
  }

  private subscribeTopics(ws: WS, ch: string): void {
    ws.subscribe(broadcastTopic(ch));
    ws.subscribe(directTopic(ch, ws.data.user));
  }

  private dropInterest(ch: string): void {
    this.upstream.remove(ch);
    if (!this.upstream.has(ch)) this.lastSeq.delete(ch);
  }

  /** Sends one frame; a client that cannot keep up is closed with 1013 rather than buffered without bound. */
  private send(ws: WS, frame: string): void {
    const r = ws.send(frame);
    if (r === 0 || (r === -1 && ws.getBufferedAmount() > this.limits.wsBufferBytes)) this.closeSlow(ws);
  }

  private closeSlow(ws: WS): void {
    if (ws.data.closed) return;
    ws.data.closed = true; // nothing more is sent; the sweep does not count it twice
    this.deps.metrics.slowClosed.inc();
    ws.close(1013, "client too slow");
  }

  private sweep(): void {
    for (const ws of this.sockets) if (ws.getBufferedAmount() > this.limits.wsBufferBytes) this.closeSlow(ws);
  }

  // ---- client → server ----

  private onMessage(ws: WS, raw: string | Buffer): void {
    ws.data.framesIn++;
    if (typeof raw !== "string") return this.send(ws, errorFrame("invalid_message", "frames must be JSON text"));
    if (!ws.data.ready) {
      if (ws.data.inbox.length < this.limits.rateBurst) ws.data.inbox.push(raw);
      else this.send(ws, errorFrame("rate_limited", "too many frames before ready"));
      return;
    }
    void this.handle(ws, raw);
  }

  private async handle(ws: WS, raw: string): Promise<void> {
    const m = this.deps.metrics.messagesIn;
    const bytes = raw.length * 3 <= this.limits.frameBytes ? raw.length : Buffer.byteLength(raw);
    if (bytes > this.limits.frameBytes) {
      m.inc({ outcome: "too_large" });
      return this.send(ws, errorFrame("too_large", `frame exceeds ${this.limits.frameBytes} bytes`));
    }
    const { user } = ws.data;
    let clientMsgId: string | undefined;
    try {
      const msg = parseOutgoing(raw, this.limits);
      clientMsgId = msg.client_msg_id;
      if (!ws.data.bucket.take()) throw new AppError("rate_limited", "slow down");
      if (!ws.data.channels.has(msg.channel_id)) throw new AppError("forbidden", "not a member of this team on this connection");
      const info = this.cache.peek(msg.channel_id) ?? (await this.loadChannel(msg.channel_id));
      if (!info.found) throw new AppError("not_found", "no such team");
      if (!info.members.has(user)) throw new AppError("forbidden", "not a member of this team");
      if (!info.active) throw new AppError("forbidden", "team is inactive");
      if (msg.to !== "*" && !info.members.has(msg.to)) throw new AppError("not_found", "recipient is not a member of this team");

      const earlier = clientMsgId ? this.dedupe.get(user, clientMsgId) : undefined;
      if (earlier) {
        m.inc({ outcome: "duplicate" });
        return this.send(ws, ackFrame(await earlier, clientMsgId));
      }
      const id = objectId();
      const ts = new Date().toISOString();
      const entry: LogEntry = { kind: "message", id, channel_id: msg.channel_id, to: msg.to, type: msg.type, data: msg.data, from: user, ts };
      if (clientMsgId) entry.client_msg_id = clientMsgId;
      const t0 = performance.now();
      const acked = this.appender.append({ channelId: msg.channel_id, value: JSON.stringify(entry) }).then((seq) => ({ id, seq, ts }));
      if (clientMsgId) this.dedupe.remember(user, clientMsgId, acked);
      const ack = await acked;
      this.deps.metrics.appendSeconds.observe((performance.now() - t0) / 1000);
      m.inc({ outcome: "accepted" });
      if (!ws.data.closed) this.send(ws, ackFrame(ack, clientMsgId));
    } catch (err) {
      const app = toAppError(err) as AppError & { client_msg_id?: string };
      if (app.code === "internal") this.logger.error("message handling failed", { err });
      m.inc({ outcome: app.code });
      if (!ws.data.closed) this.send(ws, errorFrameOf(Object.assign(app, { client_msg_id: app.client_msg_id ?? clientMsgId })));
    }
  }

  private async loadChannel(ch: string): Promise<ChannelInfo> {
    try {
      return await this.cache.get(ch);
    } catch (err) {
      this.logger.warn("channel lookup failed", { channel_id: ch, err: String(err) });
      throw new AppError("unavailable", "membership service unavailable");
    }
  }

  // ---- controller → clients ----

  private dispatch(events: Event[]): void {
    for (const ev of events) {
      const buffered = this.syncing.get(ev.channelId);
      if (buffered) buffered.push(ev);
      else this.deliver(ev);
    }
  }

  private publish(topic: string, frame: string): void {
    if (this.server!.publish(topic, frame) > 0) this.deps.metrics.framesOut.inc();
  }

  private deliver(ev: Event): void {
    const ch = ev.channelId;
    const seq = Number(ev.seq);
    if (this.upstream.has(ch)) {
      const last = this.lastSeq.get(ch);
      if (last !== undefined && seq <= last) return; // redelivered after a controller restart or rebalance
      this.lastSeq.set(ch, seq);
    }
    switch (ev.kind) {
      case EventKind.MESSAGE:
        if (ev.to === "*") this.publish(broadcastTopic(ch), ev.frame);
        else {
          this.publish(directTopic(ch, ev.to), ev.frame);
          if (ev.from !== ev.to) this.publish(directTopic(ch, ev.from), ev.frame);
        }
        break;
      case EventKind.MEMBER_JOINED:
        this.cache.invalidate(ch);
        this.publish(broadcastTopic(ch), ev.frame);
        if (this.userSockets.has(ev.to)) void this.reconcile(ev.to, ch, seq, ev.frame);
        break;
      case EventKind.MEMBER_LEFT:
        this.cache.invalidate(ch);
        this.left(ev.to, ch); // at once: a removed member must not receive one more message
        this.publish(broadcastTopic(ch), ev.frame);
        if (this.userSockets.has(ev.to)) void this.reconcile(ev.to, ch, seq);
        break;
      case EventKind.ADMIN_ADDED:
      case EventKind.ADMIN_REMOVED:
        this.publish(broadcastTopic(ch), ev.frame);
        break;
      case EventKind.TEAM_UPDATED:
        this.cache.invalidate(ch);
        break;
    }
    const resuming = this.catchingUp.get(ch);
    if (resuming) for (const ws of resuming) this.bufferForResume(ws, ch, ev);
  }

  /**
   * Brings a user's sockets in line with the team as stored now, not as one event says: events of
   * one team written by two management processes can reach the log out of order. Sockets that
   * join catch up from the event's seq through the resume path, so nothing in between is missed.
   */
  private async reconcile(user: string, ch: string, seq: number, joinedFrame?: string): Promise<void> {
    let info: ChannelInfo;
    try {
      info = await this.cache.get(ch);
    } catch (err) {
      this.logger.warn("membership reconcile failed", { channel_id: ch, err: String(err) });
      return;
    }
    if (!info.active || !info.members.has(user)) return;
    for (const ws of this.userSockets.get(user) ?? []) {
      if (ws.data.filtered || ws.data.closed || ws.data.channels.has(ch)) continue;
      ws.data.channels.add(ch);
      const interest = this.upstream.add(ch);
      if (joinedFrame) this.send(ws, joinedFrame);
      void this.resume(ws, ch, seq, interest);
    }
  }

  private left(user: string, ch: string): void {
    const sockets = this.userSockets.get(user);
    if (!sockets) return;
    for (const ws of sockets) {
      if (!ws.data.channels.delete(ch)) continue;
      ws.unsubscribe(broadcastTopic(ch));
      ws.unsubscribe(directTopic(ch, user));
      if (ws.data.resuming.delete(ch)) this.catchingUp.get(ch)?.delete(ws);
      this.dropInterest(ch);
      this.send(ws, channelLeftFrame(ch));
    }
  }

  // ---- resume and recovery ----

  private bufferForResume(ws: WS, ch: string, ev: Event): void {
    const r = ws.data.resuming.get(ch);
    if (!r) return;
    if (r.buffer.length >= MAX_RESUME_BUFFER) return this.closeSlow(ws);
    r.buffer.push(ev);
  }

  /**
   * `?since=<ch>:<seq>`: the socket stays off the channel's topics while its backlog is read;
   * live events meanwhile are buffered for it, then everything goes out in seq order, once.
   */
  private async resume(ws: WS, ch: string, after: number, interest: Promise<void> = Promise.resolve()): Promise<void> {
    const r: Resume = { floor: after, buffer: [] };
    ws.data.resuming.set(ch, r);
    let set = this.catchingUp.get(ch);
    if (!set) this.catchingUp.set(ch, (set = new Set()));
    set.add(ws);
    try {
      await interest; // the backlog is read only once the controllers forward this channel to us
      for await (const page of this.stored(ch, ws.data.user, after)) {
        if (ws.data.resuming.get(ch) !== r) return;
        for (const ev of page) {
          this.send(ws, ev.frame);
          r.floor = Number(ev.seq);
        }
      }
    } catch (err) {
      this.logger.warn("resume failed", { channel_id: ch, err: String(err) });
      this.send(ws, errorFrame("unavailable", `could not resume ${ch}; fetch its history instead`));
    } finally {
      if (ws.data.resuming.get(ch) === r) {
        for (const ev of r.buffer) {
          const seq = Number(ev.seq);
          if (seq > r.floor && visible(ev, ws.data.user)) {
            this.send(ws, ev.frame);
            r.floor = seq;
          }
        }
        ws.data.resuming.delete(ch);
        this.catchingUp.get(ch)?.delete(ws);
        if (this.catchingUp.get(ch)?.size === 0) this.catchingUp.delete(ch);
        if (!ws.data.closed && ws.data.channels.has(ch)) this.subscribeTopics(ws, ch);
      }
    }
  }

  /** A channel's stored events after `after`, page by page, oldest first (`viewer` "" = every event). */
  private async *stored(ch: string, viewer: string, after: number): AsyncGenerator<Event[]> {
    for (let cursor = BigInt(after); ; ) {
      const { events } = await this.upstream.client.fetchSince({ channelId: ch, viewer, afterSeq: cursor, limit: FETCH_PAGE });
      if (events.length) yield events;
      if (events.length < FETCH_PAGE) return;
      cursor = events[events.length - 1]!.seq;
    }
  }

  /** After a stream reopens, fetch what each channel may have missed while it was down. */
  private recoverAll(channels: string[]): void {
    for (const ch of channels) {
      const last = this.lastSeq.get(ch);
      if (last !== undefined) void this.recover(ch, last);
    }
  }

  /** Holds a channel's live events, reads the store after `after`, then delivers both merged in seq order. */
  private async recover(ch: string, after: number): Promise<void> {
    if (this.syncing.has(ch)) return;
    const held: Event[] = [];
    this.syncing.set(ch, held);
    const fetched: Event[] = [];
    try {
      for await (const page of this.stored(ch, "", after)) fetched.push(...page);
    } catch (err) {
      this.logger.warn("channel recovery failed", { channel_id: ch, err: String(err) });
    } finally {
      this.syncing.delete(ch);
      const all = [...fetched, ...held].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
      for (const ev of all) this.deliver(ev);
    }
  }
}
