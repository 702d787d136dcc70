import { AppError } from "@chat/common/errors";
import { isObjectId, isUserId } from "@chat/common/grammar";
import type { Logger } from "@chat/common/log";
import { TYPING_THROTTLE_MS } from "@chat/common/presence";
import type { Event } from "@chat/proto/chat/v1/controller_pb";
import { authorizeSend, type MembershipCache } from "./channel-cache";
import type { SocketRegistry } from "./registry";
import { broadcastTopic, directTopic, type WS } from "./socket";
import type { ControllerClient } from "./upstream";

export interface TypingDeps {
  relayId: string;
  sockets: SocketRegistry;
  cache: MembershipCache;
  /** The controller a channel's typing goes through (the same on every relay while it is up, so its throttle sees them all). */
  controllerFor: (channel: string) => ControllerClient;
  logger: Logger;
}

const invalid = (m: string) => new AppError("invalid_message", m);

/**
 * `{"op":"typing","channel_id","to"}` (PROTOCOL section 10): checked like a send (the team on this
 * connection, the typist a member, `to` a member), throttled here and at the controller to one per
 * user and channel per 2 s, never acked, never stored. Forwarded events reach the other members'
 * sockets — a DM's only its recipient's — and never the typist's own.
 */
export class Typing {
  private readonly last = new Map<string, number>();
  private timer: Timer | undefined;

  constructor(private readonly deps: TypingDeps) {}

  start(): void {
    this.timer = setInterval(() => {
      const now = performance.now();
      for (const [k, at] of this.last) if (now - at >= TYPING_THROTTLE_MS) this.last.delete(k);
    }, 5_000);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The op handler: an invalid frame is an error (echoing client_msg_id); a valid one gets no answer. */
  handle = async (ws: WS, frame: Record<string, unknown>): Promise<void> => {
    const { channel_id: ch, to } = frame;
    if (!isObjectId(ch)) throw invalid("channel_id must be a team id (24 lowercase hex)");
    if (to !== "*" && !isUserId(to)) throw invalid('to must be "*" or a user id');
    const user = ws.data.user;
    if (!ws.data.channels.has(ch)) throw new AppError("forbidden", "not a member of this team on this connection");
    await authorizeSend(this.deps.cache, ch, user, to, this.deps.logger);
    const key = `${ch}\n${user}`;
    const now = performance.now();
    const last = this.last.get(key);
    if (last !== undefined && now - last < TYPING_THROTTLE_MS) return;
    this.last.set(key, now);
    try {
      await this.deps.controllerFor(ch).publishTyping({ relayId: this.deps.relayId, channelId: ch, user, to }, { timeoutMs: 2_000 });
    } catch (err) {
      this.last.delete(key);
      this.deps.logger.warn("typing forward failed", { channel_id: ch, err: String(err) });
      throw new AppError("unavailable", "typing could not be forwarded");
    }
  };

  /** A typing event from a controller: the channel's topic minus the typist's own sockets, or the DM recipient's topic. */
  deliver(ev: Event): void {
    const { channelId: ch, from, to } = ev;
    if (to !== "*") {
      if (to !== from) this.deps.sockets.publish(directTopic(ch, to), ev.frame);
    } else {
      // Bun publishes to a topic's subscribers at once: taking the typist's sockets out for the call excludes them.
      const topic = broadcastTopic(ch);
      const own = [...this.deps.sockets.ofUser(from)].filter((ws) => ws.isSubscribed(topic));
      for (const ws of own) ws.unsubscribe(topic);
      this.deps.sockets.publish(topic, ev.frame);
      for (const ws of own) ws.subscribe(topic);
    }
  }
}
