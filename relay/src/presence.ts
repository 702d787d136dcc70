import type { Logger } from "@chat/common/log";
import { fromWire, newEpoch, PRESENCE_BATCH_MS, PRESENCE_GRACE_MS, PresenceTable, toWire, type PresenceChange, type PresenceUpdate } from "@chat/common/presence";
import type { PresenceUpdate as PresenceUpdatePb } from "@chat/proto/chat/v1/controller_pb";
import type { Standing } from "./channel-cache";
import type { SocketRegistry } from "./registry";
import { broadcastTopic, type WS } from "./socket";
import type { ControllerClient } from "./upstream";

export interface PresenceDeps {
  relayId: string;
  leaseMs: number;
  controllers: { name: string; client: ControllerClient }[];
  sockets: SocketRegistry;
  /** The team as stored (the relay's membership cache). */
  standing: (channelId: string, user: string) => Promise<Standing>;
  /** Whether any socket here covers the channel (frames for others are not built). */
  interested: (channel: string) => boolean;
  logger: Logger;
}

interface Conn {
  name: string;
  client: ControllerClient;
  /** The controller may not hold our current version: the next call sends the state whole. */
  needFull: boolean;
  chain: Promise<void>;
}

/** Changes of one channel waiting for its next frame: per user the state to report and the state last reported. */
interface Batch {
  users: Map<string, { online: boolean; before: boolean }>;
  timer: Timer;
}

const CALL_TIMEOUT_MS = 5_000;
/** Socket opens and closes within this are announced together. */
const ANNOUNCE_EVERY_MS = 50;

/**
 * Presence on the relay (PROTOCOL section 10). This relay is the authority on its own sockets: it
 * announces which users it holds (with their teams) to every controller as a versioned lease,
 * renewed every third of the lease, and re-sent whole when a controller does not hold its version
 * (restart, missed call). Every relay's leases come back through the controllers' streams into one
 * PresenceTable, whose transitions (offline only after the grace) become at most one frame per
 * channel per second, published to the channel's topic.
 */
export class Presence {
  private readonly epoch = newEpoch();
  private seq = 0;
  /** What the controllers were told, as of `seq`: user → teams. */
  private readonly announced = new Map<string, string[]>();
  private readonly dirty = new Set<string>();
  private announceTimer: Timer | undefined;
  private readonly conns: Conn[];
  readonly table: PresenceTable;
  private readonly batches = new Map<string, Batch>();
  private readonly lastFrame = new Map<string, number>();
  private timers: Timer[] = [];
  private stopped = false;

  constructor(private readonly deps: PresenceDeps) {
    this.conns = deps.controllers.map((c) => ({ ...c, needFull: true, chain: Promise.resolve() }));
    this.table = new PresenceTable(PRESENCE_GRACE_MS, (changes) => this.changed(changes));
  }

  start(): void {
    const tick = setInterval(() => this.tick(), 1_000);
    const renew = setInterval(() => this.renew(), Math.max(1_000, Math.floor(this.deps.leaseMs / 3)));
    this.timers = [tick, renew];
    for (const t of this.timers) t.unref?.();
    this.renew();
  }

  /** A socket opened or closed, or its teams changed: the user's entry is re-announced shortly. */
  touch(user: string): void {
    if (this.stopped) return;
    this.dirty.add(user);
    this.announceTimer ??= setTimeout(() => this.announce(), ANNOUNCE_EVERY_MS);
  }

  /**
   * A membership event about a user with sockets here: their teams follow the team as stored (events
   * of one team can arrive out of order), and at once when they leave.
   */
  async member(user: string, channel: string, joined: boolean): Promise<void> {
    if (!this.deps.sockets.has(user)) return;
    let member = false;
    if (joined) {
      try {
        const s = await this.deps.standing(channel, user);
        member = s.active && s.role !== "none";
      } catch (err) {
        this.deps.logger.warn("presence membership lookup failed", { channel_id: channel, err: String(err) });
        return;
      }
    }
    for (const ws of this.deps.sockets.ofUser(user)) {
      if (member) ws.data.teams.add(channel);
      else ws.data.teams.delete(channel);
    }
    this.touch(user);
  }

  /** Another relay's update, forwarded by a controller (each controller forwards it: duplicates are dropped by version). */
  receive(u: PresenceUpdatePb): void {
    if (u.relayId === this.deps.relayId) return; // our own state is applied as it is announced
    this.table.apply(fromWire(u), Date.now());
  }

  /** Graceful stop: one last whole state, empty, so the other relays start their users' grace now rather than at lease expiry. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.announceTimer);
    for (const b of this.batches.values()) clearTimeout(b.timer);
    this.announced.clear();
    this.seq++;
    const bye = this.update(true, [], []);
    await Promise.all(this.conns.map((c) => c.client.announcePresence({ update: toWire(bye) }, { timeoutMs: 1_000 }).catch(() => undefined)));
  }

  private teamsOf(user: string): string[] {
    const teams = new Set<string>();
    for (const ws of this.deps.sockets.ofUser(user) as Iterable<WS>) if (!ws.data.closed) for (const t of ws.data.teams) teams.add(t);
    return [...teams].sort();
  }

  private announce(): void {
    this.announceTimer = undefined;
    const up: PresenceUpdate["up"] = [];
    const down: string[] = [];
    for (const user of this.dirty) {
      const teams = this.teamsOf(user);
      const before = this.announced.get(user);
      if (before && before.length === teams.length && before.every((t, i) => t === teams[i])) continue;
      if (teams.length) {
        this.announced.set(user, teams);
        up.push({ user, channelIds: teams });
      } else if (before) {
        this.announced.delete(user);
        down.push(user);
      }
    }
    this.dirty.clear();
    if (!up.length && !down.length) return;
    this.seq++;
    const u = this.update(false, up, down);
    this.table.apply(u, Date.now());
    for (const c of this.conns) this.send(c, u);
  }

  private update(full: boolean, up: PresenceUpdate["up"], down: string[]): PresenceUpdate {
    return { relayId: this.deps.relayId, epoch: this.epoch, seq: this.seq, baseSeq: full ? this.seq : this.seq - 1, full, up, down, leaseMs: this.deps.leaseMs };
  }

  private whole(): PresenceUpdate {
    return this.update(true, [...this.announced].map(([user, channelIds]) => ({ user, channelIds })), []);
  }

  /** Calls to one controller run one after another, so its version only moves forward. */
  private send(c: Conn, u: PresenceUpdate): void {
    c.chain = c.chain.then(async () => {
      if (this.stopped) return;
      if (c.needFull) return this.sendWhole(c);
      try {
        const r = await c.client.announcePresence({ update: toWire(u) }, { timeoutMs: CALL_TIMEOUT_MS });
        if (r.resync) await this.sendWhole(c);
      } catch (err) {
        c.needFull = true;
        this.deps.logger.warn("presence announce failed", { controller: c.name, err: String(err) });
      }
    });
  }

  private async sendWhole(c: Conn): Promise<void> {
    try {
      await c.client.announcePresence({ update: toWire(this.whole()) }, { timeoutMs: CALL_TIMEOUT_MS });
      c.needFull = false;
    } catch (err) {
      c.needFull = true;
      this.deps.logger.warn("presence announce failed", { controller: c.name, err: String(err) });
    }
  }

  /**
   * The lease renewed everywhere: a version the controller lacks comes back as `resync`. Also called
   * when a controller stream re-opens (it may have restarted), so the lease is re-announced at once.
   */
  renew(): void {
    if (this.stopped) return;
    const beat = this.update(false, [], []);
    beat.baseSeq = this.seq;
    this.table.apply(beat.seq === 0 ? { ...beat, full: true } : beat, Date.now(), true);
    for (const c of this.conns) this.send(c, beat);
  }

  private tick(): void {
    const now = Date.now();
    this.table.tick(now);
    for (const [ch, at] of this.lastFrame) if (now - at >= PRESENCE_BATCH_MS) this.lastFrame.delete(ch);
  }

  private changed(changes: PresenceChange[]): void {
    const now = Date.now();
    for (const { channel, user, online } of changes) {
      if (!this.deps.interested(channel)) continue;
      let b = this.batches.get(channel);
      if (!b) {
        const due = Math.max(ANNOUNCE_EVERY_MS, (this.lastFrame.get(channel) ?? -Infinity) + PRESENCE_BATCH_MS - now);
        b = { users: new Map(), timer: setTimeout(() => this.frame(channel), due) };
        this.batches.set(channel, b);
      }
      const e = b.users.get(user);
      if (!e) b.users.set(user, { online, before: !online });
      else if (e.before === online) b.users.delete(user); // back where the last frame left it
      else e.online = online;
    }
  }

  private frame(channel: string): void {
    const b = this.batches.get(channel);
    this.batches.delete(channel);
    if (!b || this.stopped) return;
    const online: string[] = [];
    const offline: string[] = [];
    for (const [user, e] of b.users) (e.online ? online : offline).push(user);
    if (!online.length && !offline.length) return;
    this.lastFrame.set(channel, Date.now());
    this.deps.sockets.publish(broadcastTopic(channel), JSON.stringify({ event: "presence", channel_id: channel, online, offline }));
  }
}
