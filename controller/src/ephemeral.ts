import { create } from "@bufbuild/protobuf";
import { fromWire, PRESENCE_GRACE_MS, PresenceTable, toWire, TYPING_THROTTLE_MS } from "@chat/common/presence";
import { EventKind, PresenceUpdateSchema, type Event, type PresenceUpdate as PresenceUpdatePb } from "@chat/proto/chat/v1/controller_pb";
import { newEvent, type Hub } from "./hub";

/**
 * The controller's share of PROTOCOL section 10, all in memory: relays' presence leases (every relay
 * announces to every controller, so each holds the whole table and a restart costs one re-announce
 * per relay) and typing, throttled per user and channel. Nothing here touches the log or a store.
 */
export class Ephemeral {
  readonly table = new PresenceTable(PRESENCE_GRACE_MS);
  private readonly typed = new Map<string, number>();
  private timer: Timer | undefined;

  constructor(
    private readonly hub: Hub,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => this.tick(), 1_000);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  tick(now = this.now()): void {
    this.table.tick(now);
    for (const [k, at] of this.typed) if (now - at >= TYPING_THROTTLE_MS) this.typed.delete(k);
  }

  /** A relay's update: applied, then forwarded to every relay; false when the relay must send its state whole. */
  announce(u: PresenceUpdatePb): boolean {
    const result = this.table.apply(fromWire(u), this.now(), true);
    if (result === "resync") return false;
    if (result === "applied") this.hub.broadcast([presenceEvent(u)]);
    return true;
  }

  /** What a relay's new stream starts with: every relay's state, whole. */
  snapshot(): Event[] {
    return this.table.snapshot(this.now()).map((u) => presenceEvent(create(PresenceUpdateSchema, toWire(u))));
  }

  /** Graces and leases are brought up to now first: the answer never lags the frames relays sent for the same change. */
  online(channelId: string): string[] {
    this.table.tick(this.now());
    return this.table.online(channelId);
  }

  /** Forwards a typing indicator to the channel's relays unless the same user typed there within 2 s. */
  typing(channelId: string, user: string, to: string): boolean {
    const key = `${channelId}\n${user}`;
    const now = this.now();
    const last = this.typed.get(key);
    if (last !== undefined && now - last < TYPING_THROTTLE_MS) return false;
    this.typed.set(key, now);
    const frame = JSON.stringify({ event: "typing", channel_id: channelId, user, to });
    this.hub.publish([newEvent({ kind: EventKind.TYPING, channelId, to, from: user, frame })]);
    return true;
  }
}

function presenceEvent(u: PresenceUpdatePb): Event {
  return newEvent({ kind: EventKind.PRESENCE, presence: u });
}
