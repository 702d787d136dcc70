/**
 * Presence and typing (PROTOCOL section 10): ephemeral, never stored, no `seq`.
 *
 * Each relay is the authority on its own sockets and shares that as a lease: a versioned set of
 * users (each with the teams they are online in) that every holder drops `leaseMs` after the
 * relay last renewed it. The same table runs in controllers (to answer GET presence and to hand
 * a reconnecting relay the current state) and in relays (to turn changes into frames), so a
 * user's presence has one definition everywhere.
 */

/** PROTOCOL section 10: how long a user stays online after their last socket closed anywhere. */
export const PRESENCE_GRACE_MS = 5_000;
/** At most one presence frame per channel per this. */
export const PRESENCE_BATCH_MS = 1_000;
/** At most one typing event forwarded per user and channel per this. */
export const TYPING_THROTTLE_MS = 2_000;
/** How long clients show a typing indicator (`ready.typing_ttl_ms`). */
export const TYPING_TTL_MS = 6_000;

/** One relay's announcement: its state as a change from `baseSeq` to `seq`, or whole. */
export interface PresenceUpdate {
  relayId: string;
  /** One run of the relay; a later epoch (string order) replaces an earlier one. */
  epoch: string;
  seq: number;
  baseSeq: number;
  full: boolean;
  up: { user: string; channelIds: string[] }[];
  down: string[];
  leaseMs: number;
}

export interface PresenceChange {
  channel: string;
  user: string;
  online: boolean;
}

/** A new epoch for this process: start time first, so a restarted relay's epoch sorts after its predecessor's. */
export function newEpoch(now = Date.now()): string {
  return `${now.toString(36).padStart(10, "0")}-${Math.random().toString(36).slice(2, 8)}`;
}

interface Source {
  epoch: string;
  seq: number;
  expiresAt: number;
  users: Map<string, string[]>;
}

/** Per channel and user: how many relays hold them there; 0 while in the grace, until `due`. */
interface Held {
  n: number;
  due: number;
}

export type ApplyResult = "applied" | "stale" | "resync";

export class PresenceTable {
  private readonly sources = new Map<string, Source>();
  private readonly held = new Map<string, Map<string, Held>>();
  /** (channel, user, due) in due order — the grace is constant; entries whose user came back are skipped. */
  private readonly leaving: [string, string, number][] = [];
  private leavingHead = 0;
  private changes: PresenceChange[] = [];

  constructor(
    private readonly graceMs = PRESENCE_GRACE_MS,
    /** Called with the transitions of one apply or tick (online at once, offline after the grace). */
    private readonly onChange?: (changes: PresenceChange[]) => void,
  ) {}

  /**
   * Applies a relay's update. `strict` (controllers): a change that does not follow the held
   * version is refused with "resync", so the relay sends its state whole. Not strict (relays, fed
   * the same update by every controller): duplicates are dropped, and a gap is applied as far as it
   * goes — the next whole state (sent on every stream open) repairs what was missed.
   */
  apply(u: PresenceUpdate, now: number, strict = false): ApplyResult {
    let s = this.sources.get(u.relayId);
    if (s && u.epoch < s.epoch) return "stale";
    if (s && u.epoch > s.epoch) {
      this.drop(u.relayId, s, now); // the relay restarted: its earlier run's sockets are gone
      s = undefined;
    }
    if (!s) {
      if (!u.full && strict) return this.flush("resync");
      s = { epoch: u.epoch, seq: u.seq, expiresAt: 0, users: new Map() };
      this.sources.set(u.relayId, s);
      if (u.full) this.replace(s, u, now);
      else this.change(s, u, now);
    } else if (u.seq < s.seq) {
      return "stale"; // an older update, late through another controller
    } else if (u.full) {
      if (u.seq > s.seq) this.replace(s, u, now);
    } else if (u.seq === s.seq) {
      // a renewal, or a change already applied (every controller forwards it)
    } else if (u.baseSeq === s.seq) this.change(s, u, now);
    else if (strict) return this.flush("resync");
    else this.change(s, u, now);
    s.seq = Math.max(s.seq, u.seq);
    s.expiresAt = now + u.leaseMs;
    return this.flush("applied");
  }

  /** Expires leases not renewed in time and ends graces that ran out. */
  tick(now: number): void {
    // The grace runs from the lease's end, not from when a tick noticed it: every holder then agrees to the tick.
    for (const [relayId, s] of this.sources) if (s.expiresAt <= now) this.drop(relayId, s, s.expiresAt);
    while (this.leavingHead < this.leaving.length) {
      const [ch, user, due] = this.leaving[this.leavingHead]!;
      if (due > now) break;
      this.leavingHead++;
      const users = this.held.get(ch);
      const h = users?.get(user);
      if (!h || h.n > 0 || h.due !== due) continue;
      users!.delete(user);
      if (users!.size === 0) this.held.delete(ch);
      this.changes.push({ channel: ch, user, online: false });
    }
    if (this.leavingHead > 1024 && this.leavingHead * 2 > this.leaving.length) {
      this.leaving.splice(0, this.leavingHead);
      this.leavingHead = 0;
    }
    this.flush(undefined);
  }

  /** Who is online in a channel: held by some relay, or within the grace. */
  online(channel: string): string[] {
    return [...(this.held.get(channel)?.keys() ?? [])];
  }

  isOnline(channel: string, user: string): boolean {
    return this.held.get(channel)?.has(user) ?? false;
  }

  /** Every relay's state whole, with the lease it has left: what a reconnecting relay is sent first. */
  snapshot(now: number): PresenceUpdate[] {
    return [...this.sources].map(([relayId, s]) => ({
      relayId,
      epoch: s.epoch,
      seq: s.seq,
      baseSeq: s.seq,
      full: true,
      up: [...s.users].map(([user, channelIds]) => ({ user, channelIds })),
      down: [],
      leaseMs: Math.max(1, s.expiresAt - now),
    }));
  }

  get relays(): number {
    return this.sources.size;
  }

  private flush<R extends ApplyResult | undefined>(result: R): R {
    if (this.changes.length) {
      const out = this.changes;
      this.changes = [];
      this.onChange?.(out);
    }
    return result;
  }

  private replace(s: Source, u: PresenceUpdate, now: number): void {
    const next = new Map(u.up.map((e) => [e.user, e.channelIds]));
    for (const user of [...s.users.keys()]) if (!next.has(user)) this.set(s, user, undefined, now);
    for (const [user, chs] of next) this.set(s, user, chs, now);
  }

  private change(s: Source, u: PresenceUpdate, now: number): void {
    for (const user of u.down) this.set(s, user, undefined, now);
    for (const e of u.up) this.set(s, e.user, e.channelIds, now);
  }

  private drop(relayId: string, s: Source, now: number): void {
    for (const user of [...s.users.keys()]) this.set(s, user, undefined, now);
    this.sources.delete(relayId);
  }

  /** One relay's entry for a user: the channels it holds them in (undefined: none). */
  private set(s: Source, user: string, channels: string[] | undefined, now: number): void {
    const before = s.users.get(user) ?? [];
    const after = channels ?? [];
    if (channels?.length) s.users.set(user, channels);
    else s.users.delete(user);
    const was = new Set(before);
    for (const ch of after) if (!was.delete(ch)) this.inc(ch, user);
    for (const ch of was) this.dec(ch, user, now);
  }

  /** In due order: appended, except after a lease expiry noticed late, which is inserted where it belongs. */
  private queueLeaving(e: [string, string, number]): void {
    const q = this.leaving;
    if (q.length === this.leavingHead || q[q.length - 1]![2] <= e[2]) {
      q.push(e);
      return;
    }
    let lo = this.leavingHead;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (q[mid]![2] <= e[2]) lo = mid + 1;
      else hi = mid;
    }
    q.splice(lo, 0, e);
  }

  private inc(ch: string, user: string): void {
    let users = this.held.get(ch);
    if (!users) this.held.set(ch, (users = new Map()));
    const h = users.get(user);
    if (!h) {
      users.set(user, { n: 1, due: 0 });
      this.changes.push({ channel: ch, user, online: true });
    } else h.n++; // back within the grace: nobody saw them leave
  }

  private dec(ch: string, user: string, now: number): void {
    const h = this.held.get(ch)?.get(user);
    if (!h || h.n === 0) return;
    if (--h.n === 0) {
      h.due = now + this.graceMs;
      this.queueLeaving([ch, user, h.due]);
    }
  }
}

/** The update as protobuf carries it (versions as uint64). */
export interface PresenceUpdateWire extends Omit<PresenceUpdate, "seq" | "baseSeq"> {
  seq: bigint;
  baseSeq: bigint;
}
export const fromWire = (u: PresenceUpdateWire): PresenceUpdate => ({
  relayId: u.relayId,
  epoch: u.epoch,
  seq: Number(u.seq),
  baseSeq: Number(u.baseSeq),
  full: u.full,
  up: u.up.map((e) => ({ user: e.user, channelIds: e.channelIds })),
  down: u.down,
  leaseMs: u.leaseMs,
});
export const toWire = (u: PresenceUpdate): PresenceUpdateWire => ({ ...u, seq: BigInt(u.seq), baseSeq: BigInt(u.baseSeq) });
