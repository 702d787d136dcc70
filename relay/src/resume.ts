import type { Logger } from "@chat/common/log";
import type { Event } from "@chat/proto/chat/v1/controller_pb";
import { errorFrame } from "./frames";
import type { SocketRegistry } from "./registry";
import { visible, type Resume, type WS } from "./socket";
import type { Upstream } from "./upstream";

const FETCH_PAGE = 1000;
const MAX_RESUME_BUFFER = 10_000;

/**
 * Catch-up of one socket on one channel (`?since=`, or a team joined live): the socket stays off
 * the channel's topics while its backlog is read from the store; live events meanwhile are held
 * for it, then everything goes out in seq order, once, and the socket joins the live topics.
 */
export class Resumer {
  /** Sockets catching up, by channel: live events of the channel are held for them. */
  private readonly catchingUp = new Map<string, Set<WS>>();
  /**
   * Sockets on a channel's topics that read from the store past what had reached this relay live, by
   * channel, with the seq they read up to: those events are still on their way here (a stream can lag a
   * store read; a controller taking a partition over re-sends), and must reach the channel's other
   * sockets then, but not these a second time. An entry goes when the channel's live events reach its
   * seq, or with its socket; on a quiet channel (after a relay restart every channel has no live
   * position yet) it stays as long as its socket: one number per resumed socket and channel.
   */
  private readonly ahead = new Map<string, Map<WS, number>>();

  constructor(
    private readonly sockets: SocketRegistry,
    private readonly upstream: Upstream,
    /** The highest seq of a channel the fan-out has delivered live (undefined: none yet). */
    private readonly delivered: (ch: string) => number | undefined,
    private readonly logger: Logger,
  ) {}

  /** The lowest seq the sockets ahead on `ch` read up to: where a recovery can start when nothing was delivered live. */
  aheadFloor(ch: string): number | undefined {
    let min: number | undefined;
    for (const floor of this.ahead.get(ch)?.values() ?? []) if (min === undefined || floor < min) min = floor;
    return min;
  }

  /**
   * The sockets of `ch` that already have `seq` from the store, or undefined (nearly always: one map
   * lookup). Called by the fan-out for each live event, in seq order: a socket is forgotten once the
   * live stream has reached what it read.
   */
  aheadOf(ch: string, seq: number): ReadonlySet<WS> | undefined {
    const sockets = this.ahead.get(ch);
    if (!sockets) return undefined;
    let skip: Set<WS> | undefined;
    for (const [ws, floor] of sockets) {
      if (floor >= seq) (skip ??= new Set()).add(ws);
      if (floor <= seq) sockets.delete(ws);
    }
    if (sockets.size === 0) this.ahead.delete(ch);
    return skip;
  }

  /** Holds a live event for every socket still catching up on its channel. */
  hold(ev: Event): void {
    const waiting = this.catchingUp.get(ev.channelId);
    if (!waiting) return;
    for (const ws of waiting) {
      const r = ws.data.resuming.get(ev.channelId);
      if (!r) continue;
      if (r.buffer.length >= MAX_RESUME_BUFFER) this.sockets.closeSlow(ws);
      else r.buffer.push(ev);
    }
  }

  /** The socket no longer catches up on `ch` (it left the team, or closed). */
  cancel(ws: WS, ch: string): void {
    if (ws.data.resuming.delete(ch)) this.catchingUp.get(ch)?.delete(ws);
    this.unahead(ws, ch);
  }

  cancelAll(ws: WS): void {
    for (const ch of ws.data.resuming.keys()) this.catchingUp.get(ch)?.delete(ws);
    for (const ch of ws.data.channels) this.unahead(ws, ch); // a channel it left was cancelled then
  }

  private unahead(ws: WS, ch: string): void {
    const sockets = this.ahead.get(ch);
    if (sockets?.delete(ws) && sockets.size === 0) this.ahead.delete(ch);
  }

  /** Replays `ch` after `after` to `ws`, once `interest` says the controllers forward the channel to us. */
  async resume(ws: WS, ch: string, after: number, interest: Promise<void> = Promise.resolve()): Promise<void> {
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
          this.sockets.send(ws, ev.frame);
          r.floor = Number(ev.seq);
        }
      }
    } catch (err) {
      this.logger.warn("resume failed", { channel_id: ch, err: String(err) });
      this.sockets.send(ws, errorFrame("unavailable", `could not resume ${ch}; fetch its history instead`));
    } finally {
      if (ws.data.resuming.get(ch) === r) {
        for (const ev of r.buffer) {
          const seq = Number(ev.seq);
          if (seq > r.floor && visible(ev, ws.data.user)) {
            this.sockets.send(ws, ev.frame);
            r.floor = seq;
          }
        }
        ws.data.resuming.delete(ch);
        this.catchingUp.get(ch)?.delete(ws);
        if (this.catchingUp.get(ch)?.size === 0) this.catchingUp.delete(ch);
        if (!ws.data.closed && ws.data.channels.has(ch)) {
          this.sockets.subscribe(ws, ch);
          // What it read past the live stream will still arrive live: for the others, not for it (`aheadOf`).
          const live = this.delivered(ch);
          if (live === undefined || r.floor > live) {
            let sockets = this.ahead.get(ch);
            if (!sockets) this.ahead.set(ch, (sockets = new Map()));
            sockets.set(ws, r.floor);
          }
        }
      }
    }
  }

  /**
   * A channel's events after `after`, page by page, oldest first (`viewer` "" = every event): the
   * store's, then what the controllers published but have not stored yet. Those are asked for first:
   * a message stored meanwhile is then in the store's answer, and one published later reaches the
   * caller live, so nothing published falls between the two.
   */
  async *stored(ch: string, viewer: string, after: number): AsyncGenerator<Event[]> {
    const unstored = await this.upstream.unstored(ch, viewer, BigInt(after));
    let cursor = BigInt(after);
    for (;;) {
      const { events } = await this.upstream.client.fetchSince({ channelId: ch, viewer, afterSeq: cursor, limit: FETCH_PAGE });
      if (events.length) yield events;
      if (events.length) cursor = events[events.length - 1]!.seq;
      if (events.length < FETCH_PAGE) break;
    }
    const rest = unstored.filter((ev) => ev.seq > cursor);
    if (rest.length) yield rest;
  }
}
