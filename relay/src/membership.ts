import type { Logger } from "@chat/common/log";
import type { MembershipCache, Standing } from "./channel-cache";
import { channelLeftFrame } from "./frames";
import type { SocketRegistry } from "./registry";
import type { Resumer } from "./resume";
import type { Upstream } from "./upstream";

/**
 * Keeps each user's sockets in the teams they belong to as membership changes live: a removed
 * member leaves at once; an added member's unfiltered sockets join and catch up from the join.
 */
export class Membership {
  constructor(
    private readonly sockets: SocketRegistry,
    private readonly cache: MembershipCache,
    private readonly upstream: Upstream,
    private readonly resumer: Resumer,
    /** Drops this relay's interest in a channel once no socket needs it. */
    private readonly dropInterest: (ch: string) => void,
    private readonly logger: Logger,
  ) {}

  /**
   * Brings a user's sockets in line with the team as stored now, not as one event says: events of
   * one team written by two management processes can reach the log out of order. Sockets that
   * join catch up from the event's seq through the resume path, so nothing in between is missed.
   */
  async reconcile(user: string, ch: string, seq: number, joinedFrame?: string): Promise<void> {
    if (!this.sockets.has(user)) return;
    let info: Standing;
    try {
      info = await this.cache.get(ch, user);
    } catch (err) {
      this.logger.warn("membership reconcile failed", { channel_id: ch, err: String(err) });
      return;
    }
    if (!info.active || info.role === "none") return;
    for (const ws of this.sockets.ofUser(user)) {
      if (ws.data.filtered || ws.data.closed || ws.data.channels.has(ch)) continue;
      ws.data.channels.add(ch);
      const interest = this.upstream.add(ch);
      if (joinedFrame) this.sockets.send(ws, joinedFrame);
      void this.resumer.resume(ws, ch, seq, interest);
    }
  }

  /** A member removed: their sockets leave the channel before anything more of it is published. */
  left(user: string, ch: string): void {
    for (const ws of this.sockets.ofUser(user)) {
      if (!ws.data.channels.delete(ch)) continue;
      this.sockets.unsubscribe(ws, ch);
      this.resumer.cancel(ws, ch);
      this.dropInterest(ch);
      this.sockets.send(ws, channelLeftFrame(ch));
    }
  }
}
