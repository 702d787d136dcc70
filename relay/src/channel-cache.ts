import { AppError } from "@chat/common/errors";
import type { Logger } from "@chat/common/log";

export type Role = "super_admin" | "admin" | "user" | "none";

/** One user's standing in one team, as the controller answers GetMembership. */
export interface Standing {
  found: boolean;
  active: boolean;
  role: Role;
}

/** A user's role as the message-lifecycle rules need it. */
export const roleIn = (s: Standing): Role => (s.found ? s.role : "none");

type Entry = Standing & { at: number };

/**
 * Membership as the relay needs it to authorize frames: one entry per (team, user) asked about —
 * senders on this relay's sockets and the recipients of their DMs — never a team's member list, so
 * a 100,000-member team costs what its users connected here (and their DM partners) cost. A bounded
 * LRU, loaded through the controller; a user's membership events drop that user's entry, a team's
 * events (deactivation) every entry of the team; a load that raced either is not kept.
 */
export class MembershipCache {
  private readonly values = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Standing>>();
  private clock = 0;
  /** When each (team, user) or team was last invalidated: loads started earlier are not kept. */
  private readonly userEpoch = new Map<string, number>();
  private readonly channelEpoch = new Map<string, number>();
  /** The epoch maps were cleared at this tick (bounded memory): anything loaded before it is stale. */
  private floor = 0;

  constructor(
    private readonly load: (channelId: string, user: string) => Promise<Standing>,
    private readonly max = 100_000,
  ) {}

  get size(): number {
    return this.values.size;
  }

  peek(channelId: string, user: string): Standing | undefined {
    const key = keyOf(channelId, user);
    const v = this.values.get(key);
    if (!v) return undefined;
    if (v.at < this.floor || v.at < (this.channelEpoch.get(channelId) ?? 0)) {
      this.values.delete(key);
      return undefined;
    }
    // Most recently used last: the first key is the one to evict.
    this.values.delete(key);
    this.values.set(key, v);
    return v;
  }

  get(channelId: string, user: string): Promise<Standing> {
    const v = this.peek(channelId, user);
    if (v) return Promise.resolve(v);
    const key = keyOf(channelId, user);
    let p = this.loading.get(key);
    if (p) return p;
    const at = ++this.clock;
    p = this.load(channelId, user).then(
      (s) => {
        if (this.loading.get(key) === p) this.loading.delete(key);
        const fresh = at > this.floor && at > (this.userEpoch.get(key) ?? 0) && at > (this.channelEpoch.get(channelId) ?? 0);
        if (fresh) {
          if (this.values.size >= this.max) this.values.delete(this.values.keys().next().value!);
          this.values.set(key, { found: s.found, active: s.active, role: s.role, at });
        }
        return s;
      },
      (err) => {
        if (this.loading.get(key) === p) this.loading.delete(key);
        throw err;
      },
    );
    this.loading.set(key, p);
    return p;
  }

  /** A membership event of `user` in the team (joined, left, admin added or removed). */
  invalidate(channelId: string, user: string): void {
    const key = keyOf(channelId, user);
    this.values.delete(key);
    this.loading.delete(key);
    this.userEpoch.set(key, ++this.clock);
    this.bound();
  }

  /** A team event (deactivation): every entry of the team. */
  invalidateChannel(channelId: string): void {
    this.channelEpoch.set(channelId, ++this.clock);
    for (const key of this.loading.keys()) if (key.startsWith(channelId + "\n")) this.loading.delete(key);
    this.bound();
  }

  private bound(): void {
    if (this.userEpoch.size + this.channelEpoch.size <= this.max * 2) return;
    this.userEpoch.clear();
    this.channelEpoch.clear();
    this.floor = this.clock;
  }
}

const keyOf = (channelId: string, user: string) => `${channelId}\n${user}`;

/** A standing through the cache; a controller that cannot answer is `unavailable`. */
export async function standingOf(cache: MembershipCache, ch: string, user: string, logger: Logger): Promise<Standing> {
  const v = cache.peek(ch, user);
  if (v) return v;
  try {
    return await cache.get(ch, user);
  } catch (err) {
    logger.warn("membership lookup failed", { channel_id: ch, err: String(err) });
    throw new AppError("unavailable", "membership service unavailable");
  }
}

/** A send or typing frame: the sender a member of an active team, a DM's recipient a member. */
export async function authorizeSend(cache: MembershipCache, ch: string, user: string, to: string, logger: Logger): Promise<void> {
  const me = await standingOf(cache, ch, user, logger);
  if (!me.found) throw new AppError("not_found", "no such team");
  if (me.role === "none") throw new AppError("forbidden", "not a member of this team");
  if (!me.active) throw new AppError("forbidden", "team is inactive");
  if (to !== "*" && (await standingOf(cache, ch, to, logger)).role === "none") throw new AppError("not_found", "recipient is not a member of this team");
}
