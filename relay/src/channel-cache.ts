export interface ChannelInfo {
  found: boolean;
  active: boolean;
  members: Set<string>;
  /** Admins, the super_admin among them (absent: a cache filled by a controller that does not say). */
  admins?: Set<string>;
  superAdmin?: string;
}

/** A user's role as the message-lifecycle rules need it. */
export function roleIn(info: ChannelInfo, user: string): "super_admin" | "admin" | "user" | "none" {
  if (!info.found || !info.members.has(user)) return "none";
  if (info.superAdmin === user) return "super_admin";
  return info.admins?.has(user) ? "admin" : "user";
}

/**
 * Team membership as the relay needs it to authorize sends, loaded through the controller
 * and dropped on every membership event of the channel. A load that raced an event is not kept.
 */
export class ChannelCache {
  private readonly values = new Map<string, ChannelInfo>();
  private readonly loading = new Map<string, Promise<ChannelInfo>>();
  private readonly generation = new Map<string, number>();

  constructor(
    private readonly load: (channelId: string) => Promise<ChannelInfo>,
    private readonly max = 50_000,
  ) {}

  peek(channelId: string): ChannelInfo | undefined {
    return this.values.get(channelId);
  }

  get(channelId: string): Promise<ChannelInfo> {
    const v = this.values.get(channelId);
    if (v) return Promise.resolve(v);
    let p = this.loading.get(channelId);
    if (p) return p;
    const gen = this.generation.get(channelId) ?? 0;
    p = this.load(channelId).then(
      (info) => {
        this.loading.delete(channelId);
        if ((this.generation.get(channelId) ?? 0) === gen) {
          if (this.values.size >= this.max) this.values.delete(this.values.keys().next().value!);
          this.values.set(channelId, info);
        }
        return info;
      },
      (err) => {
        this.loading.delete(channelId);
        throw err;
      },
    );
    this.loading.set(channelId, p);
    return p;
  }

  invalidate(channelId: string): void {
    this.values.delete(channelId);
    this.loading.delete(channelId);
    this.generation.set(channelId, (this.generation.get(channelId) ?? 0) + 1);
    if (this.generation.size > this.max * 2) this.generation.clear();
  }
}
