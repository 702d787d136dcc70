import type { Server } from "bun";
import type { Metrics } from "@chat/common/metrics";
import { broadcastTopic, directTopic, topicChannel, type SocketData, type WS } from "./socket";

/**
 * Bun's own bound on a socket's buffer, past ours: the sweep below closes a socket over `bufferLimit`
 * with 1013 within 100 ms, so Bun's limit is met only by a burst of more than `bufferLimit` in less.
 * There Bun drops what is published to the socket; closing it at that first drop (1006, no close
 * frame, its last frame cut short) makes its client resume with `?since` and get them back. Left open,
 * a socket that drained below our limit before the sweep would keep the gap, and nothing would say so.
 */
export function bufferOptions(bufferLimit: number): { backpressureLimit: number; closeOnBackpressureLimit: boolean } {
  return { backpressureLimit: bufferLimit * 2, closeOnBackpressureLimit: true };
}

/**
 * Every open socket of this relay, by user, and the one way to write to them: Bun topics for
 * fan-out (one publish per event, whatever the audience; `publishExcept` for the rare event some
 * subscribers must not get) and `send` with back-pressure for frames meant for one socket. A client
 * that cannot keep up is closed with 1013.
 */
export class SocketRegistry {
  private server: Server<SocketData> | undefined;
  private readonly sockets = new Set<WS>();
  private readonly byUser = new Map<string, Set<WS>>();
  /** Upgrades accepted but not yet open, per user, so that concurrent handshakes cannot pass the cap together. */
  private readonly reserved = new Map<string, { n: number; at: number }>();
  /** Sockets on each channel's topics, and each socket's channels: what a publish can have filled. */
  private readonly byChannel = new Map<string, Set<WS>>();
  private readonly channelsOf = new WeakMap<WS, Set<string>>();
  /** Channels published to since the last sweep, and in the round before it. */
  private published = new Set<string>();
  private publishedBefore = new Set<string>();
  private sweepTimer: Timer | undefined;
  /** Bytes published (to any channel) since the last early read (below), and the channels they went to. */
  private bytesSince = 0;
  private touched = new Set<string>();
  private earlyTimer: Timer | undefined;

  constructor(
    private readonly bufferLimit: number,
    private readonly metrics: Metrics,
  ) {}

  /** Starts publishing through `server` and the back-pressure sweep. */
  start(server: Server<SocketData>): void {
    this.server = server;
    this.sweepTimer = setInterval(() => this.sweep(), 50);
  }

  stop(): void {
    clearInterval(this.sweepTimer);
    clearTimeout(this.earlyTimer);
    this.earlyTimer = undefined;
    this.touched.clear();
    this.bytesSince = 0;
  }

  get size(): number {
    return this.sockets.size;
  }

  all(): Iterable<WS> {
    return this.sockets;
  }

  has(user: string): boolean {
    return this.byUser.has(user);
  }

  ofUser(user: string): Iterable<WS> {
    return this.byUser.get(user) ?? [];
  }

  /**
   * Holds one of `user`'s `max` socket slots for an upgrade about to happen; false when none is free.
   * A slot not taken up by `add` within 10 s (a handshake that never opened) is freed.
   */
  reserve(user: string, max: number, now = performance.now()): boolean {
    let r = this.reserved.get(user);
    if (r && now - r.at > 10_000) r = undefined;
    const n = r?.n ?? 0;
    if ((this.byUser.get(user)?.size ?? 0) + n >= max) return false;
    this.reserved.set(user, { n: n + 1, at: now });
    return true;
  }

  unreserve(user: string): void {
    const r = this.reserved.get(user);
    if (!r) return;
    if (r.n <= 1) this.reserved.delete(user);
    else r.n--;
  }

  add(ws: WS): void {
    this.unreserve(ws.data.user);
    this.sockets.add(ws);
    let mine = this.byUser.get(ws.data.user);
    if (!mine) this.byUser.set(ws.data.user, (mine = new Set()));
    mine.add(ws);
    this.metrics.wsConnections.inc();
  }

  remove(ws: WS): void {
    this.sockets.delete(ws);
    for (const ch of this.channelsOf.get(ws) ?? []) this.unindex(ws, ch);
    this.channelsOf.delete(ws);
    const mine = this.byUser.get(ws.data.user);
    mine?.delete(ws);
    if (mine?.size === 0) this.byUser.delete(ws.data.user);
    this.metrics.wsConnections.dec();
  }

  subscribe(ws: WS, ch: string): void {
    if (ws.data.closed) return; // closed meanwhile (a send can close it): nothing to index
    ws.subscribe(broadcastTopic(ch));
    ws.subscribe(directTopic(ch, ws.data.user));
    let sockets = this.byChannel.get(ch);
    if (!sockets) this.byChannel.set(ch, (sockets = new Set()));
    sockets.add(ws);
    let channels = this.channelsOf.get(ws);
    if (!channels) this.channelsOf.set(ws, (channels = new Set()));
    channels.add(ch);
  }

  unsubscribe(ws: WS, ch: string): void {
    ws.unsubscribe(broadcastTopic(ch));
    ws.unsubscribe(directTopic(ch, ws.data.user));
    this.unindex(ws, ch);
    this.channelsOf.get(ws)?.delete(ch);
  }

  private unindex(ws: WS, ch: string): void {
    const sockets = this.byChannel.get(ch);
    sockets?.delete(ws);
    if (sockets?.size === 0) this.byChannel.delete(ch);
  }

  /**
   * Publishes to a topic. Once a quarter of the limit has been published since the last early read,
   * to whichever channels, the sockets of those channels are read again as soon as Bun has written
   * the frames (a timer, after this turn), not at the next sweep: between two reads a socket grows by
   * at most a quarter of the limit plus what one turn of the event loop publishes, however many
   * channels it is in, so it is closed with 1013 before Bun's own bound (twice the limit,
   * `bufferOptions`) drops frames and closes it with 1006 — unless one turn publishes most of the limit.
   */
  publish(topic: string, frame: string): void {
    if (this.server!.publish(topic, frame) > 0) this.metrics.framesOut.inc();
    const ch = topicChannel(topic);
    if (!this.byChannel.has(ch)) return; // no socket here: nothing can grow
    this.published.add(ch);
    this.touched.add(ch);
    this.bytesSince += Buffer.byteLength(frame);
    if (this.bytesSince < this.bufferLimit / 4) return;
    this.bytesSince = 0;
    this.earlyTimer ??= setTimeout(() => {
      this.earlyTimer = undefined;
      const touched = this.touched;
      this.touched = new Set();
      for (const c of touched) this.closeSlowOf(c);
    }, 0);
  }

  /**
   * What `publish` to a channel's topic (`user`: that user's direct topic there) delivers, one socket at
   * a time and leaving out `except`: for the rare event some subscribers already have (resume.ts).
   */
  publishExcept(ch: string, user: string | undefined, frame: string, except: ReadonlySet<WS>): void {
    let sent = false;
    for (const ws of this.byChannel.get(ch) ?? []) {
      if (except.has(ws) || (user !== undefined && ws.data.user !== user)) continue;
      this.send(ws, frame);
      sent = true;
    }
    if (sent) this.metrics.framesOut.inc(); // as `publish` counts: one per frame published
  }

  /** Sends one frame; a client that cannot keep up is closed with 1013 rather than buffered without bound. */
  send(ws: WS, frame: string): void {
    const r = ws.send(frame);
    if (r === 0 || (r === -1 && ws.getBufferedAmount() > this.bufferLimit)) this.closeSlow(ws);
  }

  closeSlow(ws: WS): void {
    if (ws.data.closed) return;
    ws.data.closed = true; // nothing more is sent; the sweep does not count it twice
    this.metrics.slowClosed.inc();
    ws.close(1013, "client too slow");
  }

  /**
   * Topic publishes do not report per socket: a socket over the limit is found here within 100 ms (run
   * by the timer every 50). Only sockets of channels published to lately can have grown (what `send`
   * writes is checked as it goes; a socket leaving a channel is sent `channel_left` that way), so idle
   * sockets cost nothing however many there are. A channel is swept in the two rounds after its
   * publish: Bun may add a publish to the sockets' buffers only at the end of the event loop's turn
   * (measured with many publishes to a socket already holding a backlog; a lone publish is counted at
   * once), so a sweep in the same turn can read them as they were.
   */
  sweep(): void {
    const before = this.publishedBefore;
    this.publishedBefore = this.published;
    this.published = new Set();
    for (const channels of [before, this.publishedBefore]) {
      for (const ch of channels) this.closeSlowOf(ch);
    }
  }

  private closeSlowOf(ch: string): void {
    for (const ws of this.byChannel.get(ch) ?? []) if (!ws.data.closed && ws.getBufferedAmount() > this.bufferLimit) this.closeSlow(ws);
  }
}
