import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { wakeOrAbort } from "@chat/common/retry";
import { EventKind, EventSchema, type Event } from "@chat/proto/chat/v1/controller_pb";

/** One relay's open Subscribe stream: its interest set and the events queued for it. */
export class RelayStream {
  readonly interest: Set<string>;
  private queue: Event[] = [];
  private wake: (() => void) | undefined;
  closedReason: string | undefined;

  constructor(
    readonly relayId: string,
    channels: Iterable<string>,
    private readonly maxQueue: number,
  ) {
    this.interest = new Set(channels);
  }

  push(ev: Event): void {
    if (this.closedReason) return;
    if (this.queue.length >= this.maxQueue) {
      // A relay this far behind reconnects and recovers from the store, rather than growing us without bound.
      this.close("relay too slow");
      return;
    }
    this.queue.push(ev);
  }

  flush(): void {
    if (this.queue.length && this.wake) {
      const w = this.wake;
      this.wake = undefined;
      w();
    }
  }

  close(reason: string): void {
    this.closedReason ??= reason;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Waits for queued events; resolves with none when the stream closes or the signal aborts. */
  async next(signal: AbortSignal): Promise<Event[]> {
    while (this.queue.length === 0 && !this.closedReason && !signal.aborted) await wakeOrAbort((wake) => (this.wake = wake), signal);
    const out = this.queue;
    this.queue = [];
    return out;
  }
}

const MEMBERSHIP = new Set([EventKind.MEMBER_JOINED, EventKind.MEMBER_LEFT, EventKind.ADMIN_ADDED, EventKind.ADMIN_REMOVED, EventKind.TEAM_UPDATED]);

/**
 * The controller's pub-sub: each relay receives only the messages of channels it asked for,
 * plus every membership event (a relay must learn when one of its users joins a team).
 */
export class Hub {
  private readonly streams = new Map<string, RelayStream>();

  constructor(private readonly maxQueue = 100_000) {}

  open(relayId: string, channels: Iterable<string>): RelayStream {
    this.streams.get(relayId)?.close("replaced by a newer subscription");
    const s = new RelayStream(relayId, channels, this.maxQueue);
    this.streams.set(relayId, s);
    return s;
  }

  release(s: RelayStream): void {
    if (this.streams.get(s.relayId) === s) this.streams.delete(s.relayId);
    s.close("released");
  }

  /** False when the relay has no open stream (it will send its whole interest set when it subscribes). */
  updateInterest(relayId: string, add: string[], remove: string[]): boolean {
    const s = this.streams.get(relayId);
    if (!s) return false;
    for (const c of add) s.interest.add(c);
    for (const c of remove) s.interest.delete(c);
    return true;
  }

  publish(events: Event[]): void {
    for (const s of this.streams.values()) {
      for (const ev of events) if (MEMBERSHIP.has(ev.kind) || s.interest.has(ev.channelId)) s.push(ev);
      s.flush();
    }
  }

  /** Events every relay receives whatever its interest (presence leases). */
  broadcast(events: Event[]): void {
    for (const s of this.streams.values()) {
      for (const ev of events) s.push(ev);
      s.flush();
    }
  }

  get relayCount(): number {
    return this.streams.size;
  }

  closeAll(reason: string): void {
    for (const s of this.streams.values()) s.close(reason);
    this.streams.clear();
  }
}

export function newEvent(init: MessageInitShape<typeof EventSchema>): Event {
  return create(EventSchema, init);
}
