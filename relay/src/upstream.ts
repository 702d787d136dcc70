import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { Logger } from "@chat/common/log";
import { backoffDelay } from "@chat/common/retry";
import type { ControllerService, Event } from "@chat/proto/chat/v1/controller_pb";

export type ControllerClient = Client<typeof ControllerService>;

interface Conn {
  name: string;
  client: ControllerClient;
  /** Interest the controller holds for us; null while no stream is open. */
  synced: Set<string> | null;
  abort: AbortController | null;
  /** Interest updates to one controller run one after another. */
  chain: Promise<void>;
  /** How far this relay has the controller's log events (SubscribeResponse epoch and position): a re-opened stream resumes after it. */
  epoch: string;
  position: bigint;
}

/**
 * The relay's side of the controller protocol: one Subscribe stream per controller,
 * re-opened with backoff, and the interest set kept in step on every one of them.
 */
export class Upstream {
  private readonly conns: Conn[];
  private readonly interest = new Map<string, number>();
  /** This process's own id: a stream it re-opens first gets what the controller routed to it after `position` (controller/src/hub.ts). */
  private readonly instance = crypto.randomUUID();
  private stopped = false;
  private readyWaiters: (() => void)[] = [];

  constructor(
    controllers: { name: string; client: ControllerClient }[],
    private readonly relayId: string,
    private readonly onEvents: (events: Event[]) => void,
    /** Called after a stream (re)opens, with the channels whose traffic may have been missed. */
    private readonly onResubscribed: (channels: string[]) => void,
    private readonly logger: Logger,
  ) {
    this.conns = controllers.map((c) => ({ ...c, synced: null, abort: null, chain: Promise.resolve(), epoch: "", position: 0n }));
  }

  /** Any controller, for unary calls: the first with an open stream, else the first. */
  get client(): ControllerClient {
    return (this.conns.find((c) => c.synced) ?? this.conns[0]!).client;
  }

  /**
   * The controller for a key (a channel), the same on every relay with the same CONTROLLER_URLS:
   * chosen by hash among all, the next open one when that one's stream is down.
   */
  clientFor(key: string): ControllerClient {
    let h = 2166136261;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
    const n = this.conns.length;
    const start = (h >>> 0) % n;
    for (let i = 0; i < n; i++) {
      const c = this.conns[(start + i) % n]!;
      if (c.synced) return c.client;
    }
    return this.conns[start]!.client;
  }

  /**
   * What the controllers have published on `channel` after `after` but not stored yet, from every
   * one with an open stream, in seq order. A controller that cannot answer is left out: its
   * partitions move to another, which publishes them again.
   */
  async unstored(channel: string, viewer: string, after: bigint): Promise<Event[]> {
    const open = this.conns.filter((c) => c.synced);
    const answers = await Promise.all(
      open.map((c) =>
        c.client.fetchUnstored({ channelId: channel, viewer, afterSeq: after }).then(
          (r) => r.events,
          (err: unknown) => {
            this.logger.warn("fetching unstored messages failed", { controller: c.name, channel_id: channel, err: String(err) });
            return [] as Event[];
          },
        ),
      ),
    );
    const events = answers.flat();
    return events.length > 1 ? events.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0)) : events;
  }

  get connected(): number {
    return this.conns.filter((c) => c.synced).length;
  }

  has(channel: string): boolean {
    return this.interest.has(channel);
  }

  /**
   * Resolves once every connected controller forwards this channel to us. A channel already wanted
   * may still be on its way (another socket's add, not yet answered): its queued update is awaited.
   */
  async add(channel: string): Promise<void> {
    const n = this.interest.get(channel) ?? 0;
    this.interest.set(channel, n + 1);
    await Promise.all(this.conns.map((c) => (n > 0 ? c.chain : this.sync(c))));
  }

  remove(channel: string): void {
    const n = this.interest.get(channel) ?? 0;
    if (n <= 1) {
      this.interest.delete(channel);
      for (const c of this.conns) void this.sync(c);
    } else this.interest.set(channel, n - 1);
  }

  private sync(c: Conn): Promise<void> {
    c.chain = c.chain.then(() => this.sendDiff(c));
    return c.chain;
  }

  /** Sends a controller the difference between what it holds and what we want. */
  private async sendDiff(c: Conn): Promise<void> {
    const held = c.synced;
    if (!held) return; // it receives the whole set when its stream opens
    const add = [...this.interest.keys()].filter((ch) => !held.has(ch));
    const remove = [...held].filter((ch) => !this.interest.has(ch));
    if (!add.length && !remove.length) return;
    for (const ch of add) held.add(ch);
    for (const ch of remove) held.delete(ch);
    try {
      await c.client.updateInterest({ relayId: this.relayId, add, remove });
    } catch (err) {
      // The stream is gone or was replaced: re-subscribing restores the full set.
      this.logger.warn("interest update failed; re-subscribing", { controller: c.name, err: String(err) });
      c.abort?.abort();
    }
  }

  /** Resolves when every controller stream is open (or at once if stopped). */
  whenConnected(): Promise<void> {
    if (this.connected === this.conns.length || this.stopped) return Promise.resolve();
    return new Promise((r) => this.readyWaiters.push(r));
  }

  start(): void {
    for (const c of this.conns) void this.loop(c);
  }

  stop(): void {
    this.stopped = true;
    for (const c of this.conns) c.abort?.abort();
    for (const w of this.readyWaiters.splice(0)) w();
  }

  private async loop(c: Conn): Promise<void> {
    let attempt = 0;
    let everConnected = false;
    while (!this.stopped) {
      c.abort = new AbortController();
      const snapshot = new Set(this.interest.keys());
      try {
        const stream = c.client.subscribe({ relayId: this.relayId, channelIds: [...snapshot], instance: this.instance, afterEpoch: c.epoch, afterPosition: c.position }, { signal: c.abort.signal });
        let first = true;
        for await (const res of stream) {
          if (first) {
            first = false;
            attempt = 0;
            c.synced = snapshot;
            this.logger.info("controller stream open", { controller: c.name, channels: snapshot.size });
            void this.sync(c);
            if (everConnected) this.onResubscribed([...snapshot]);
            everConnected = true;
            if (this.connected === this.conns.length) for (const w of this.readyWaiters.splice(0)) w();
          }
          if (res.events.length) this.onEvents(res.events);
          // Only once handled: a throw above re-opens the stream before these, which come again.
          c.epoch = res.epoch;
          c.position = res.position;
        }
      } catch (err) {
        if (this.stopped) break;
        const code = err instanceof ConnectError ? Code[err.code] : undefined;
        this.logger.warn("controller stream lost", { controller: c.name, code, err: String(err) });
      } finally {
        c.synced = null;
      }
      if (this.stopped) break;
      const delay = backoffDelay(attempt++, { jitter: 0.5 });
      await Bun.sleep(delay);
    }
  }
}
