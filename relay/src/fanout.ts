import type { Logger } from "@chat/common/log";
import { EventKind, type Event } from "@chat/proto/chat/v1/controller_pb";
import type { MembershipCache } from "./channel-cache";
import type { Membership } from "./membership";
import type { SocketRegistry } from "./registry";
import type { Resumer } from "./resume";
import { broadcastTopic, directTopic, type WS } from "./socket";
import type { Upstream } from "./upstream";

/**
 * Controller → clients: each event the controllers stream is published once to the Bun topic of
 * its audience, in seq order per channel, never twice (a controller restart or rebalance may
 * redeliver) — one socket at a time instead, leaving some out, for an event a resumed socket already
 * read from the store (resume.ts, `aheadOf`). After a stream reopens, what a channel missed meanwhile
 * is read back from the store.
 */
export class Fanout {
  /** The last seq delivered per channel this relay is interested in. */
  private readonly lastSeq = new Map<string, number>();
  /** Channels being recovered: their live events are held until the stored backlog is in. */
  private readonly syncing = new Map<string, Event[]>();

  constructor(
    private readonly sockets: SocketRegistry,
    private readonly cache: MembershipCache,
    private readonly upstream: Upstream,
    private readonly resumer: Resumer,
    private readonly membership: Membership,
    private readonly logger: Logger,
  ) {}

  /** The highest seq of `ch` delivered here (undefined: none since the relay took an interest in it). */
  delivered(ch: string): number | undefined {
    return this.lastSeq.get(ch);
  }

  /** Forgets a channel no socket here needs any more. */
  forget(ch: string): void {
    this.lastSeq.delete(ch);
  }

  dispatch(events: Event[]): void {
    for (const ev of events) {
      const held = this.syncing.get(ev.channelId);
      if (held) held.push(ev);
      else this.deliver(ev);
    }
  }

  private deliver(ev: Event): void {
    const ch = ev.channelId;
    const seq = Number(ev.seq);
    if (this.upstream.has(ch)) {
      const last = this.lastSeq.get(ch);
      if (last !== undefined && seq <= last) return; // redelivered after a controller restart or rebalance
      this.lastSeq.set(ch, seq);
    }
    // Sockets that read this event from the store while it was on its way here (resume.ts) are left out.
    const skip = this.resumer.aheadOf(ch, seq);
    switch (ev.kind) {
      case EventKind.MESSAGE:
      case EventKind.MESSAGE_EDITED:
      case EventKind.MESSAGE_DELETED:
      case EventKind.REACTION_ADDED:
      case EventKind.REACTION_REMOVED:
      case EventKind.READ: // to = from = the reader: their own sockets only
        if (ev.to === "*") this.publish(ev, skip);
        else {
          this.publish(ev, skip, ev.to);
          if (ev.from !== ev.to) this.publish(ev, skip, ev.from);
        }
        break;
      case EventKind.MEMBER_JOINED:
        this.cache.invalidate(ch, ev.to);
        this.publish(ev, skip);
        void this.membership.reconcile(ev.to, ch, seq, ev.frame);
        break;
      case EventKind.MEMBER_LEFT:
        this.cache.invalidate(ch, ev.to);
        this.membership.left(ev.to, ch); // at once: a removed member must not receive one more message
        this.publish(ev, skip);
        void this.membership.reconcile(ev.to, ch, seq);
        break;
      case EventKind.ADMIN_ADDED:
      case EventKind.ADMIN_REMOVED:
        this.cache.invalidate(ch, ev.to); // roles decide who may delete others' messages
        this.publish(ev, skip);
        break;
      case EventKind.TEAM_UPDATED:
        this.cache.invalidateChannel(ch);
        break;
    }
    this.resumer.hold(ev);
  }

  /** To the event's channel topic (`user`: that user's direct topic), leaving out `skip`. */
  private publish(ev: Event, skip: ReadonlySet<WS> | undefined, user?: string): void {
    const ch = ev.channelId;
    if (!skip) this.sockets.publish(user === undefined ? broadcastTopic(ch) : directTopic(ch, user), ev.frame);
    else this.sockets.publishExcept(ch, user, ev.frame, skip);
  }

  /** After a stream reopens, fetch what each channel may have missed while it was down. */
  recoverAll(channels: string[]): void {
    for (const ch of channels) {
      // Nothing delivered live yet: from what the sockets that resumed read (they skip what they have).
      const last = this.lastSeq.get(ch) ?? this.resumer.aheadFloor(ch);
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
      for await (const page of this.resumer.stored(ch, "", after)) fetched.push(...page);
    } catch (err) {
      this.logger.warn("channel recovery failed", { channel_id: ch, err: String(err) });
    } finally {
      this.syncing.delete(ch);
      const all = [...fetched, ...held].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
      for (const ev of all) this.deliver(ev);
    }
  }
}
