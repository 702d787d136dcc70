import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { wakeOrAbort } from "@chat/common/retry";
import { EventKind, EventSchema, type Event } from "@chat/proto/chat/v1/controller_pb";
import { Recent } from "./recent";

/** One relay's open Subscribe stream: its interest set and the events queued for it. */
export class RelayStream {
  readonly interest: Set<string>;
  private queue: Event[] = [];
  private wake: (() => void) | undefined;
  closedReason: string | undefined;
  /** Set when this stream started with a replay (Hub.open). */
  replayed: Replay | undefined;
  /** The position of the last log event queued, and of the last one handed out by next() (SubscribeResponse.position). */
  private queuedTo: number;
  position: number;

  constructor(
    readonly relayId: string,
    channels: Iterable<string>,
    private readonly maxQueue: number,
    /** The relay process's random id ("" = unknown): a stream it re-opens gets what it missed replayed. */
    readonly instance: string,
    readonly recent: Recent,
    /** Where this stream starts: what the relay had from the stream it replaces, or the ring's newest. */
    startsAfter = recent.last,
  ) {
    this.interest = new Set(channels);
    this.queuedTo = this.position = startsAfter;
  }

  /** Whether this relay receives `ev`: its channels' events, and every membership event. */
  routes(ev: Event): boolean {
    return routed(this.interest, ev);
  }

  /**
   * Queues what this relay instance's earlier stream routed after what it received (`recent.after`),
   * and the events kept during a cut for channels it was not in then (`unrouted`) that are its
   * channels now (numbered now). Each channel's events go out in seq order: the relay drops whatever
   * comes after a higher seq of the same channel, and a channel's membership events are numbered
   * while its messages were kept apart (also when this replay is cut off and replayed again).
   */
  replay(events: Event[], unrouted: Event[] = []): number {
    const start = this.queue.length;
    for (const ev of events) if (this.routes(ev)) this.queue.push(ev);
    for (const ev of unrouted) {
      if (!this.routes(ev)) continue;
      this.queue.push(ev);
      this.recent.push(ev);
    }
    inSeqOrderPerChannel(this.queue, start);
    this.queuedTo = this.recent.last;
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
    if (!EPHEMERAL.has(ev.kind)) this.queuedTo = this.recent.push(ev);
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
    this.position = this.queuedTo;
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
  /**
   * The log events of every other channel meanwhile (their count is not the relay's positions): the
   * relay may take up a channel while cut (a socket admitted through another controller), and it has
   * no seq of it to read the store back from. Bounded like `recent`; the oldest go first.
   */
  others: Recent;
  /** The channels some of whose `others` were pushed out ("all": too many to name). */
  othersDropped: Set<string> | "all";
  timer: ReturnType<typeof setTimeout>;
}

/** Past this many channels with events pushed out of `others`, a replay is incomplete whatever its channels. */
const MAX_DROPPED_NAMED = 10_000;

export interface HubOptions {
  /** Events queued for one relay at most; past it its stream is closed (it recovers from the store). */
  maxQueue?: number;
  /** Log events kept per relay instance for a re-opened stream to replay (5,000: a few seconds at 1,000 events/s for that relay). */
  recentEvents?: number;
  /**
   * ...and at most this many characters of their frames (4 Mi; the events are shared with every stream
   * that has them). A cut-off relay has both bounds twice: for its channels, and for the others' events.
   */
  recentChars?: number;
  /** How long a cut stream's relay instance has to re-open it and get what it missed. */
  parkMs?: number;
}

/** What a stream opened by a relay instance seen before replays first. */
export interface Replay {
  events: number;
  /** Some events routed to the relay after what it received (or kept for other channels during the cut) were pushed out by newer ones. */
  incomplete: boolean;
}

/**
 * The controller's pub-sub: each relay receives only the messages of channels it asked for,
 * plus every membership event (a relay must learn when one of its users joins a team).
 *
 * A connection between a relay and a controller can be cut while both live on (a network blip, a
 * proxy, a stalled socket the relay gives up on). Events routed to it in the moments before the cut
 * may never have arrived, and events published meanwhile go nowhere. The relay reads back from the
 * store what its channels missed, but only for channels it has a seq of; so the hub numbers the log
 * events it routes to each relay instance (every response says how far the relay has them), keeps
 * the newest of them, and for `parkMs` after a cut goes on collecting that instance's events (and,
 * apart, every other channel's: the relay may take one up meanwhile). When the same instance opens a
 * stream again it says the last position it received, and what was routed after that is replayed
 * first, with the other channels' events of its channels now (each channel in seq order): exactly
 * what it missed, within the bounds.
 * A little over 300 lines with `RelayStream` beside it: the two share the routing rule and the replay's
 * numbering and ordering; the bounded store of events is recent.ts.
 */
export class Hub {
  private readonly streams = new Map<string, RelayStream>();
  private readonly parked = new Map<string, Parked>();
  private readonly maxQueue: number;
  private readonly recentEvents: number;
  private readonly recentChars: number;
  private readonly parkMs: number;

  constructor(opts: HubOptions = {}) {
    this.maxQueue = opts.maxQueue ?? 100_000;
    this.recentEvents = opts.recentEvents ?? 5_000;
    this.recentChars = opts.recentChars ?? 4 * 1024 * 1024;
    this.parkMs = opts.parkMs ?? 30_000;
  }

  /**
   * A relay's new stream. The same instance (`instance`, not "") re-opening after a cut, or replacing a
   * stream we had not seen die, first gets what was routed to it after what it says it received
   * (`after`: the epoch and position of the last response it got; `replayed`).
   */
  open(relayId: string, channels: Iterable<string>, instance = "", after: { epoch: string; position: number } = { epoch: "", position: 0 }): RelayStream {
    const prior = this.streams.get(relayId);
    // A prior stream of the same instance still open: the relay gave up on it before we noticed.
    const handover = instance && prior?.instance === instance && prior.closedReason === undefined ? prior : undefined;
    prior?.close("replaced by a newer subscription");
    const parked = this.parked.get(relayId);
    this.unpark(relayId);
    const from = (handover ?? (instance && parked?.instance === instance ? parked : undefined))?.recent;
    if (!from) {
      // A new instance, or one we have nothing of (restarted, too slow, cut too long ago): a new count.
      const s = new RelayStream(relayId, channels, this.maxQueue, instance, new Recent(instance ? this.recentEvents : 0, this.recentChars));
      this.streams.set(relayId, s);
      return s;
    }
    // A position of another count (the relay never got a response of this one): it has none of it.
    const received = after.epoch === from.epoch && after.position <= from.last ? after.position : 0;
    const s = new RelayStream(relayId, channels, this.maxQueue, instance, from, received);
    this.streams.set(relayId, s);
    const missed = from.after(received);
    const others = handover ? undefined : parked;
    const dropped = others?.othersDropped;
    const lacking = dropped === "all" || [...(dropped ?? [])].some((ch) => s.interest.has(ch));
    s.replayed = { events: s.replay(missed.events, others?.others.after(0).events), incomplete: !missed.complete || lacking };
    return s;
  }

  /** The stream ended. If the relay went away rather than being closed by us, its instance is parked a while. */
  release(s: RelayStream): void {
    const current = this.streams.get(s.relayId) === s;
    if (current) this.streams.delete(s.relayId);
    const cut = current && s.closedReason === undefined;
    s.close("released");
    if (!cut || !s.instance || this.parkMs <= 0) return;
    const timer = setTimeout(() => this.unpark(s.relayId), this.parkMs);
    timer.unref?.();
    const parked: Parked = {
      instance: s.instance,
      interest: s.interest,
      recent: s.recent,
      others: new Recent(this.recentEvents, this.recentChars, (ev) => droppedOther(parked, ev)),
      othersDropped: new Set(),
      timer,
    };
    this.parked.set(s.relayId, parked);
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
      for (const ev of events) {
        if (EPHEMERAL.has(ev.kind)) continue;
        if (routed(p.interest, ev)) p.recent.push(ev);
        else p.others.push(ev);
      }
    }
  }

  /** Events every relay receives whatever its interest (presence leases). */
  broadcast(events: Event[]): void {
    for (const s of this.streams.values()) {
      for (const ev of events) s.push(ev);
      s.flush();
    }
  }

  /** A relay's open stream (diagnostics, tests). */
  streamOf(relayId: string): RelayStream | undefined {
    return this.streams.get(relayId);
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

/** Notes the channel of an event pushed out of a parked relay's `others`. */
function droppedOther(p: Parked, ev: Event): void {
  if (p.othersDropped === "all") return;
  p.othersDropped.add(ev.channelId);
  if (p.othersDropped.size > MAX_DROPPED_NAMED) p.othersDropped = "all";
}

/** Sorts each channel's events of `q` from `from` on by seq, within the slots that channel's events hold. */
function inSeqOrderPerChannel(q: Event[], from: number): void {
  const slots = new Map<string, number[]>();
  for (let i = from; i < q.length; i++) {
    const ch = q[i]!.channelId;
    const at = slots.get(ch);
    if (at) at.push(i);
    else slots.set(ch, [i]);
  }
  for (const at of slots.values()) {
    if (at.length < 2) continue;
    const sorted = at.map((i) => q[i]!).sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
    at.forEach((i, k) => (q[i] = sorted[k]!));
  }
}

export function newEvent(init: MessageInitShape<typeof EventSchema>): Event {
  return create(EventSchema, init);
}
