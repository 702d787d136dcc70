import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { wakeOrAbort } from "@chat/common/retry";
import { EventKind, EventSchema, type Event } from "@chat/proto/chat/v1/controller_pb";

/** Log events (not typing or presence) lately routed to one relay, oldest first, at most `max`. */
export class Recent {
  private buf: Event[] = [];
  private head = 0;
  /** Events pushed out by newer ones so far. */
  dropped = 0;

  constructor(private readonly max: number) {}

  push(ev: Event): void {
    if (this.max <= 0) return;
    if (this.buf.length < this.max) this.buf.push(ev);
    else {
      this.buf[this.head] = ev;
      this.head = (this.head + 1) % this.max;
      this.dropped++;
    }
  }

  list(): Event[] {
    return this.head === 0 ? this.buf.slice() : [...this.buf.slice(this.head), ...this.buf.slice(0, this.head)];
  }
}

/** One relay's open Subscribe stream: its interest set and the events queued for it. */
export class RelayStream {
  readonly interest: Set<string>;
  private queue: Event[] = [];
  private wake: (() => void) | undefined;
  closedReason: string | undefined;
  /** Set when this stream started with a replay (Hub.open). */
  replayed: Replay | undefined;

  constructor(
    readonly relayId: string,
    channels: Iterable<string>,
    private readonly maxQueue: number,
    /** The relay process's random id ("" = unknown): a stream it re-opens gets `recent` replayed. */
    readonly instance = "",
    readonly recent = new Recent(0),
  ) {
    this.interest = new Set(channels);
  }

  /** Events queued and not yet taken by the stream. */
  get pending(): number {
    return this.queue.length;
  }

  /** Whether this relay receives `ev`: its channels' events, and every membership event. */
  routes(ev: Event): boolean {
    return routed(this.interest, ev);
  }

  /** Queues what an earlier stream of this relay instance may not have delivered (it drops seqs it has). */
  replay(events: Event[]): number {
    for (const ev of events) if (this.routes(ev)) this.queue.push(ev);
    return this.queue.length;
  }

  push(ev: Event): void {
    if (this.closedReason) return;
    if (this.queue.length >= this.maxQueue) {
      // A relay this far behind reconnects and recovers from the store, rather than growing us without bound.
      this.close("relay too slow");
      return;
    }
    this.queue.push(ev);
    if (!EPHEMERAL.has(ev.kind)) this.recent.push(ev);
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
const EPHEMERAL = new Set([EventKind.TYPING, EventKind.PRESENCE]);

function routed(interest: Set<string>, ev: Event): boolean {
  return MEMBERSHIP.has(ev.kind) || interest.has(ev.channelId);
}

/** A relay instance's stream that ended without us closing it (a cut connection): its recent events, kept on. */
interface Parked {
  instance: string;
  interest: Set<string>;
  recent: Recent;
  droppedAtCut: number;
  /** More events were queued and unsent at the cut than `recent` holds. */
  incomplete: boolean;
  timer: ReturnType<typeof setTimeout>;
}

export interface HubOptions {
  /** Events queued for one relay at most; past it its stream is closed (it recovers from the store). */
  maxQueue?: number;
  /**
   * Log events kept per relay instance for a re-opened stream to replay (5,000: a cut of a few seconds
   * at 1,000 events/s for that relay, a few MB at most, shared with the streams that hold the same events).
   */
  recent?: number;
  /** How long a cut stream's relay instance has to re-open it and get what it missed. */
  parkMs?: number;
}

/** What a stream opened by a relay instance seen before replays first. */
export interface Replay {
  events: number;
  /** Some events routed to the relay while it was cut off were pushed out by newer ones. */
  incomplete: boolean;
}

/**
 * The controller's pub-sub: each relay receives only the messages of channels it asked for,
 * plus every membership event (a relay must learn when one of its users joins a team).
 *
 * A connection between a relay and a controller can be cut while both live on (a network blip, a
 * proxy, a stalled socket the relay gives up on). Events routed to it in the moments before the cut
 * may never have arrived, and events published meanwhile go nowhere. The relay reads back from the
 * store what its channels missed, but only for channels it has a seq of; so the hub keeps, per relay
 * instance, the last `recent` log events it routed to it, and for `parkMs` after a cut goes on
 * collecting that instance's events. When the same instance opens a stream again (the request's
 * `instance`), they are replayed first; the relay drops the seqs it already delivered.
 */
export class Hub {
  private readonly streams = new Map<string, RelayStream>();
  private readonly parked = new Map<string, Parked>();
  private readonly maxQueue: number;
  private readonly recentMax: number;
  private readonly parkMs: number;

  constructor(opts: HubOptions = {}) {
    this.maxQueue = opts.maxQueue ?? 100_000;
    this.recentMax = opts.recent ?? 5_000;
    this.parkMs = opts.parkMs ?? 30_000;
  }

  /** A relay's new stream; `replayed` says what it starts with if the same instance had one before. */
  open(relayId: string, channels: Iterable<string>, instance = ""): RelayStream {
    const prior = this.streams.get(relayId);
    // A prior stream of the same instance still open: the relay gave up on it before we noticed.
    const handover = instance && prior?.instance === instance && prior.closedReason === undefined ? this.cutOff(prior) : undefined;
    prior?.close("replaced by a newer subscription");
    const parked = this.parked.get(relayId);
    this.unpark(relayId);
    const from = handover ?? (instance && parked?.instance === instance ? parked : undefined);
    const s = new RelayStream(relayId, channels, this.maxQueue, instance, from?.recent ?? new Recent(instance ? this.recentMax : 0));
    this.streams.set(relayId, s);
    if (from) s.replayed = { events: s.replay(from.recent.list()), incomplete: from.incomplete || from.recent.dropped > from.droppedAtCut };
    return s;
  }

  /** The stream ended. If the relay went away rather than being closed by us, its instance is parked a while. */
  release(s: RelayStream): void {
    const current = this.streams.get(s.relayId) === s;
    if (current) this.streams.delete(s.relayId);
    const cut = current && s.closedReason === undefined ? this.cutOff(s) : undefined;
    s.close("released");
    if (!cut || !s.instance || this.parkMs <= 0) return;
    const timer = setTimeout(() => this.unpark(s.relayId), this.parkMs);
    timer.unref?.();
    this.parked.set(s.relayId, { ...cut, timer });
  }

  /** What a relay instance cut off from `s` may have missed: its recent events (more were queued than they hold: incomplete). */
  private cutOff(s: RelayStream): Omit<Parked, "timer"> {
    return { instance: s.instance, interest: s.interest, recent: s.recent, droppedAtCut: s.recent.dropped, incomplete: s.pending > this.recentMax };
  }

  private unpark(relayId: string): void {
    const p = this.parked.get(relayId);
    if (!p) return;
    clearTimeout(p.timer);
    this.parked.delete(relayId);
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
      for (const ev of events) if (s.routes(ev)) s.push(ev);
      s.flush();
    }
    for (const p of this.parked.values()) {
      for (const ev of events) if (!EPHEMERAL.has(ev.kind) && routed(p.interest, ev)) p.recent.push(ev);
    }
  }

  /** Events every relay receives whatever its interest (presence leases). */
  broadcast(events: Event[]): void {
    for (const s of this.streams.values()) {
      for (const ev of events) s.push(ev);
      s.flush();
    }
  }

  /** Relay instances cut off lately whose events are still collected. */
  get parkedCount(): number {
    return this.parked.size;
  }

  get relayCount(): number {
    return this.streams.size;
  }

  closeAll(reason: string): void {
    for (const s of this.streams.values()) s.close(reason);
    this.streams.clear();
    for (const relayId of [...this.parked.keys()]) this.unpark(relayId);
  }
}

export function newEvent(init: MessageInitShape<typeof EventSchema>): Event {
  return create(EventSchema, init);
}
