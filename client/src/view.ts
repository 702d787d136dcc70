import type { Ack, ChatConnection } from "./connection";
import type {
  MembershipEvent,
  MessageEvent,
  MessageType,
  PresenceEvent,
  Reaction,
  ReactionEvent,
  Role,
  ServerEvent,
  StoredMessage,
  Team,
} from "./protocol";
import type { RestClient } from "./rest";

/** A message as a UI renders it: current state after edits, deletes and reactions. */
export interface MessageView {
  id: string;
  seq: number;
  channel_id: string;
  to: string;
  from: string;
  type: MessageType;
  /** Absent once deleted. */
  data?: string;
  ts: string;
  client_msg_id?: string;
  reply_to?: string;
  edited_at?: string;
  deleted?: boolean;
  reactions: Reaction[];
  reply_count: number;
  last_reply_seq?: number;
}

/** A send not acknowledged yet (shown after the timeline), or one the server refused. */
export interface PendingView {
  client_msg_id: string;
  channel_id: string;
  to: string;
  type: MessageType;
  data: string;
  reply_to?: string;
  ts: string;
  status: "sending" | "failed";
  error?: string;
}

/** `*` for the team's broadcast conversation, else the other user of a DM. */
export type ConversationKey = string;

export interface ChannelState {
  id: string;
  team?: Team;
  /** user id → role; filled from the team and kept current by membership events. */
  members: Map<string, Role>;
  /** Messages by id; `timeline()` and `thread()` give them in seq order. */
  messages: Map<string, MessageView>;
  pending: Map<string, PendingView>;
  /** History: the smallest seq loaded, whether older pages remain, whether the newest page was loaded. */
  oldestSeq?: number;
  hasMore: boolean;
  loaded: boolean;
  /** Highest seq of any event seen in this channel. */
  lastSeq: number;
  lastReadSeq: number;
  online: Set<string>;
  /** `${user}\n${to}` → when the indicator expires (ms). */
  typing: Map<string, number>;
  /** Removed from the team (channel_left) or team deactivated. */
  left: boolean;
  // unread bookkeeping: the server's count at `unreadBaseSeq`, plus live messages after it
  unreadBase: number;
  unreadBaseSeq: number;
  liveUnread: { seq: number; conv: ConversationKey }[];
}

export interface StoreOptions {
  /** History page size (the server caps it at LIMIT_HISTORY_PAGE, 100). */
  pageSize?: number;
  now?: () => number;
}

/**
 * The in-memory view model of every channel the user is in, fed by the connection's events and
 * REST pages: messages in seq order with edits, deletes, reactions, threads, unread counts, typing
 * and presence. A UI subscribes and renders `channel(id)` directly; every change bumps `version`.
 */
export class ChatStore {
  readonly channels = new Map<string, ChannelState>();
  /** The user's teams (REST), kept current by membership events. */
  readonly teams = new Map<string, Team>();
  version = 0;
  private teamsLoaded = false;
  private readonly listeners = new Set<() => void>();
  private notifyQueued = false;
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly refetch = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly pageSize: number;
  private readonly now: () => number;

  constructor(
    readonly connection: ChatConnection,
    readonly rest: RestClient,
    opts: StoreOptions = {},
  ) {
    this.pageSize = opts.pageSize ?? 50;
    this.now = opts.now ?? Date.now;
    connection.on("frame", (f) => this.apply(f));
    connection.on("state", () => this.changed());
  }

  get me(): string | undefined {
    return this.connection.user;
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Coalesces the changes of one task into one notification. */
  private changed(): void {
    this.version++;
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      for (const fn of [...this.listeners]) fn();
    });
  }

  channel(id: string): ChannelState {
    let c = this.channels.get(id);
    if (!c) {
      c = {
        id,
        members: new Map(),
        messages: new Map(),
        pending: new Map(),
        hasMore: true,
        loaded: false,
        lastSeq: 0,
        lastReadSeq: 0,
        online: new Set(),
        typing: new Map(),
        left: false,
        unreadBase: 0,
        unreadBaseSeq: 0,
        liveUnread: [],
      };
      this.channels.set(id, c);
    }
    return c;
  }

  // ---- reading the model -------------------------------------------------------------------------

  /** The conversation a message belongs to, from this user's point of view. */
  conversationOf(m: { to: string; from: string }): ConversationKey {
    if (m.to === "*") return "*";
    return m.from === this.me ? m.to : m.from;
  }

  /** Root messages of a conversation (replies live in threads), oldest first. */
  timeline(channelId: string, conv: ConversationKey = "*"): MessageView[] {
    const c = this.channels.get(channelId);
    if (!c) return [];
    return [...c.messages.values()].filter((m) => !m.reply_to && this.conversationOf(m) === conv).sort((a, b) => a.seq - b.seq);
  }

  /** A thread: its root, then its replies in seq order. */
  thread(channelId: string, rootId: string): MessageView[] {
    const c = this.channels.get(channelId);
    if (!c) return [];
    const root = c.messages.get(rootId);
    const replies = [...c.messages.values()].filter((m) => m.reply_to === rootId).sort((a, b) => a.seq - b.seq);
    return root ? [root, ...replies] : replies;
  }

  pendingIn(channelId: string, conv: ConversationKey = "*", replyTo?: string): PendingView[] {
    const c = this.channels.get(channelId);
    if (!c) return [];
    return [...c.pending.values()].filter((p) => (p.to === "*" ? "*" : p.to) === conv && p.reply_to === replyTo);
  }

  /** Unread messages of a channel (or of one conversation in it), not counting the user's own. */
  unread(channelId: string, conv?: ConversationKey): number {
    const c = this.channels.get(channelId);
    if (!c) return 0;
    const base = conv === undefined || conv === "*" ? (c.lastReadSeq >= c.unreadBaseSeq ? 0 : c.unreadBase) : 0;
    return base + c.liveUnread.filter((u) => u.seq > c.lastReadSeq && (conv === undefined || u.conv === conv)).length;
  }

  /** Users typing in a conversation now (the user excluded). */
  typingIn(channelId: string, conv: ConversationKey = "*"): string[] {
    const c = this.channels.get(channelId);
    if (!c) return [];
    const now = this.now();
    const out: string[] = [];
    for (const [key, until] of c.typing) {
      if (until <= now) continue;
      const [user, to] = key.split("\n") as [string, string];
      if (user === this.me) continue;
      if (conv === "*" ? to === "*" : to !== "*" && user === conv) out.push(user);
    }
    return out;
  }

  roleOf(channelId: string, user = this.me): Role | undefined {
    return user ? this.channels.get(channelId)?.members.get(user) : undefined;
  }

  // ---- loading -------------------------------------------------------------------------------------

  /** The user's teams, with the server's unread counts where it gives them (§9). */
  async loadTeams(): Promise<Team[]> {
    const teams = await this.rest.allTeams();
    this.teamsLoaded = true;
    this.teams.clear();
    for (const t of teams) {
      this.teams.set(t.id, t);
      this.setTeam(t);
    }
    this.changed();
    return teams;
  }

  private setTeam(t: Team): void {
    const c = this.channel(t.id);
    c.team = t;
    c.left = false;
    if (t.members) {
      const admins = new Set(t.admins ?? []);
      c.members = new Map(t.members.map((u) => [u, u === t.super_admin ? "super_admin" : admins.has(u) ? "admin" : "user"]));
    }
    if (typeof t.unread === "number" && typeof t.last_seq === "number") {
      c.unreadBase = t.unread;
      c.unreadBaseSeq = t.last_seq;
      c.liveUnread = c.liveUnread.filter((u) => u.seq > t.last_seq!);
      if (typeof t.last_read_seq === "number") c.lastReadSeq = Math.max(c.lastReadSeq, t.last_read_seq);
    }
  }

  /** Re-reads one team (roles, name) from REST. */
  async refreshTeam(id: string): Promise<void> {
    try {
      const t = await this.rest.getTeam(id);
      this.teams.set(id, { ...this.teams.get(id), ...t });
      this.setTeam(this.teams.get(id)!);
    } catch {
      // not a member any more: channel_left says so too
    }
    this.changed();
  }

  /** Loads the next older page of history (the newest page first); resolves with how many were new. */
  async loadOlder(channelId: string): Promise<number> {
    const c = this.channel(channelId);
    if (c.loaded && !c.hasMore) return 0;
    const page = await this.rest.history(channelId, { before: c.loaded ? c.oldestSeq : undefined, limit: this.pageSize });
    let added = 0;
    for (const m of page.data) if (this.addStored(c, m)) added++;
    const seqs = page.data.map((m) => m.seq);
    if (seqs.length) c.oldestSeq = Math.min(c.oldestSeq ?? Infinity, ...seqs);
    if (!c.loaded) {
      // The newest page, read while connected: a resume point for a channel the socket has not reported on.
      this.connection.seedResumePoint(channelId, seqs.length ? Math.max(...seqs) : 0);
      c.lastSeq = Math.max(c.lastSeq, ...seqs, 0);
    }
    c.loaded = true;
    c.hasMore = page.next !== null;
    this.changed();
    return added;
  }

  /** Loads a thread's messages (§9 `?thread=`); without server support, what history has. */
  async loadThread(channelId: string, rootId: string): Promise<void> {
    const c = this.channel(channelId);
    try {
      const page = await this.rest.history(channelId, { thread: rootId, limit: 100 });
      for (const m of page.data) this.addStored(c, m);
    } catch {
      // an older server refuses ?thread=: the thread shows what the timeline loaded
    }
    this.changed();
  }

  async loadPresence(channelId: string): Promise<void> {
    try {
      const p = await this.rest.presence(channelId);
      this.channel(channelId).online = new Set(p.online);
      this.changed();
    } catch {
      // presence (§10) not served yet
    }
  }

  private addStored(c: ChannelState, m: StoredMessage): boolean {
    if (c.messages.has(m.id)) return false;
    if (m.client_msg_id && this.findByClientId(c, m.from, m.client_msg_id)) return false;
    c.messages.set(m.id, {
      id: m.id,
      seq: m.seq,
      channel_id: m.channel_id,
      to: m.to,
      from: m.from,
      type: m.type,
      data: m.deleted ? undefined : m.data,
      ts: m.ts,
      client_msg_id: m.client_msg_id,
      reply_to: m.reply_to,
      edited_at: m.edited_at,
      deleted: m.deleted,
      reactions: m.reactions ? m.reactions.map((r) => ({ ...r })) : [],
      reply_count: m.reply_count ?? 0,
      last_reply_seq: m.last_reply_seq,
    });
    return true;
  }

  private findByClientId(c: ChannelState, from: string, clientMsgId: string): MessageView | undefined {
    for (const m of c.messages.values()) if (m.client_msg_id === clientMsgId && m.from === from) return m;
    return undefined;
  }

  // ---- acting ----------------------------------------------------------------------------------------

  /** Sends a text or attachment message; it shows as pending until acked, as failed if refused. */
  send(channelId: string, input: { to?: string; type?: MessageType; data: string; reply_to?: string }): Promise<Ack> {
    const c = this.channel(channelId);
    const frame = { channel_id: channelId, to: input.to ?? "*", type: input.type ?? "text", data: input.data, ...(input.reply_to ? { reply_to: input.reply_to } : {}) };
    const { clientMsgId, acked } = this.connection.send(frame);
    c.pending.set(clientMsgId, { client_msg_id: clientMsgId, ...frame, ts: new Date(this.now()).toISOString(), status: "sending" });
    this.changed();
    acked.then(
      (ack) => {
        c.pending.delete(clientMsgId);
        // The echo normally brings the message; if it was lost with a socket, the ack is enough to show it.
        if (ack.id && typeof ack.seq === "number" && !c.messages.has(ack.id) && this.me)
          this.addMessage(c, { event: "message", id: ack.id, seq: ack.seq, ts: ack.ts ?? new Date().toISOString(), from: this.me, client_msg_id: clientMsgId, ...frame }, false);
        this.changed();
      },
      (err: Error) => {
        const p = c.pending.get(clientMsgId);
        if (p) c.pending.set(clientMsgId, { ...p, status: "failed", error: err.message });
        this.changed();
      },
    );
    return acked;
  }

  /** Drops a failed send from view, or sends it again as a new message. */
  discardPending(channelId: string, clientMsgId: string): void {
    this.channels.get(channelId)?.pending.delete(clientMsgId);
    this.changed();
  }
  retryPending(channelId: string, clientMsgId: string): Promise<Ack> | undefined {
    const p = this.channels.get(channelId)?.pending.get(clientMsgId);
    if (!p) return undefined;
    this.discardPending(channelId, clientMsgId);
    return this.send(channelId, { to: p.to, type: p.type, data: p.data, reply_to: p.reply_to });
  }

  edit(channelId: string, id: string, data: string): Promise<Ack> {
    return this.connection.edit(channelId, id, data);
  }
  delete(channelId: string, id: string): Promise<Ack> {
    return this.connection.delete(channelId, id);
  }
  /** Adds the reaction, or removes it if the user already reacted with that emoji. */
  toggleReaction(channelId: string, id: string, emoji: string): Promise<Ack> {
    const mine = this.channels.get(channelId)?.messages.get(id)?.reactions.find((r) => r.emoji === emoji)?.me ?? false;
    return this.connection.react(channelId, id, emoji, !mine);
  }
  typing(channelId: string, conv: ConversationKey = "*"): void {
    this.connection.typing(channelId, conv);
  }

  /**
   * Marks the channel read, here at once and on the server (§9 `read`). With `conv`, only as far as
   * that conversation is concerned: the marker stops before the first unread message of another
   * conversation (the server keeps one marker per team, so a DM seen later still counts as unread).
   */
  markRead(channelId: string, conv?: ConversationKey): void {
    const c = this.channels.get(channelId);
    if (!c) return;
    let upTo = c.lastSeq;
    if (conv !== undefined) {
      const other = c.liveUnread.find((u) => u.seq > c.lastReadSeq && u.conv !== conv);
      if (other) upTo = other.seq - 1;
    }
    if (upTo <= c.lastReadSeq) return;
    c.lastReadSeq = upTo;
    this.changed();
    this.connection.markRead(channelId, upTo).catch(() => {}); // older servers refuse `op`: the marker stays local
  }

  // ---- applying server events ----------------------------------------------------------------------

  apply(f: ServerEvent): void {
    switch (f.event) {
      case "message":
        this.addMessage(this.channel(f.channel_id), f, true);
        break;
      case "message_edited": {
        const c = this.channel(f.channel_id);
        const m = c.messages.get(f.id);
        if (m && !m.deleted) c.messages.set(f.id, { ...m, data: f.data, edited_at: f.edited_at });
        this.bumpSeq(c, f.seq);
        break;
      }
      case "message_deleted": {
        const c = this.channel(f.channel_id);
        const m = c.messages.get(f.id);
        if (m) c.messages.set(f.id, { ...m, data: undefined, deleted: true, reactions: [] });
        c.liveUnread = c.liveUnread.filter((u) => u.seq !== m?.seq);
        this.bumpSeq(c, f.seq);
        break;
      }
      case "reaction_added":
      case "reaction_removed":
        this.applyReaction(f);
        break;
      case "read": {
        const c = this.channel(f.channel_id);
        if (f.user === this.me) c.lastReadSeq = Math.max(c.lastReadSeq, f.seq);
        this.bumpSeq(c, f.seq);
        break;
      }
      case "typing": {
        const c = this.channel(f.channel_id);
        c.typing.set(`${f.user}\n${f.to}`, this.now() + this.connection.typingTtlMs);
        this.scheduleTypingExpiry();
        break;
      }
      case "presence":
        this.applyPresence(f);
        break;
      case "member_joined":
      case "member_left":
      case "admin_added":
      case "admin_removed":
        this.applyMembership(f);
        break;
      case "channel_left": {
        const c = this.channel(f.channel_id);
        c.left = true;
        this.teams.delete(f.channel_id);
        break;
      }
      case "ready":
        if (this.teamsLoaded) for (const id of f.channels) if (!this.teams.has(id)) this.scheduleRefetch(id);
        break;
      default:
        return;
    }
    this.changed();
  }

  private bumpSeq(c: ChannelState, seq: number): void {
    if (seq > c.lastSeq) c.lastSeq = seq;
  }

  private addMessage(c: ChannelState, f: MessageEvent, live: boolean): void {
    this.bumpSeq(c, f.seq);
    // A typing indicator ends with the user's message.
    for (const key of c.typing.keys()) if (key.startsWith(`${f.from}\n`)) c.typing.delete(key);
    if (c.messages.has(f.id)) return;
    if (f.client_msg_id) {
      // The same send accepted twice (a resend that reached another relay): show it once.
      if (this.findByClientId(c, f.from, f.client_msg_id)) return;
      if (f.from === this.me) c.pending.delete(f.client_msg_id);
    }
    c.messages.set(f.id, {
      id: f.id,
      seq: f.seq,
      channel_id: f.channel_id,
      to: f.to,
      from: f.from,
      type: f.type,
      data: f.data,
      ts: f.ts,
      client_msg_id: f.client_msg_id,
      reply_to: f.reply_to,
      reactions: [],
      reply_count: 0,
    });
    if (f.reply_to) {
      const root = c.messages.get(f.reply_to);
      if (root) c.messages.set(root.id, { ...root, reply_count: root.reply_count + 1, last_reply_seq: Math.max(root.last_reply_seq ?? 0, f.seq) });
    }
    if (live && f.from !== this.me && f.seq > c.lastReadSeq) c.liveUnread.push({ seq: f.seq, conv: this.conversationOf(f) });
  }

  private applyReaction(f: ReactionEvent): void {
    const c = this.channel(f.channel_id);
    this.bumpSeq(c, f.seq);
    const m = c.messages.get(f.id);
    if (!m) return;
    const mine = f.user === this.me;
    const reactions = m.reactions.map((r) => ({ ...r }));
    const r = reactions.find((x) => x.emoji === f.emoji);
    if (f.event === "reaction_added") {
      if (r) {
        r.count++;
        r.me ||= mine;
      } else reactions.push({ emoji: f.emoji, count: 1, me: mine });
    } else if (r) {
      r.count--;
      if (mine) r.me = false;
    }
    c.messages.set(f.id, { ...m, reactions: reactions.filter((x) => x.count > 0) });
  }

  private applyPresence(f: PresenceEvent): void {
    const c = this.channel(f.channel_id);
    const online = new Set(c.online);
    for (const u of f.online) online.add(u);
    for (const u of f.offline) online.delete(u);
    c.online = online;
  }

  private applyMembership(f: MembershipEvent): void {
    const c = this.channel(f.channel_id);
    this.bumpSeq(c, f.seq);
    const members = new Map(c.members);
    if (f.event === "member_joined") members.set(f.user, members.get(f.user) ?? "user");
    else if (f.event === "member_left") members.delete(f.user);
    else if (f.event === "admin_added") members.set(f.user, members.get(f.user) === "super_admin" ? "super_admin" : "admin");
    else if (f.event === "admin_removed") members.set(f.user, "user");
    c.members = members;
    // Roles such as a new super_admin are not in the events: re-read the team shortly.
    if (this.teamsLoaded) this.scheduleRefetch(f.channel_id);
  }

  private scheduleRefetch(id: string): void {
    clearTimeout(this.refetch.get(id));
    this.refetch.set(
      id,
      setTimeout(() => {
        this.refetch.delete(id);
        void this.refreshTeam(id);
      }, 200),
    );
  }

  private scheduleTypingExpiry(): void {
    clearTimeout(this.typingTimer);
    let next = Infinity;
    const now = this.now();
    for (const c of this.channels.values())
      for (const [key, until] of c.typing) {
        if (until <= now) c.typing.delete(key);
        else next = Math.min(next, until);
      }
    if (next !== Infinity)
      this.typingTimer = setTimeout(() => {
        this.scheduleTypingExpiry();
        this.changed();
      }, next - now + 5);
  }

  /** Stops timers (the connection is closed separately). */
  dispose(): void {
    clearTimeout(this.typingTimer);
    for (const t of this.refetch.values()) clearTimeout(t);
    this.listeners.clear();
  }
}
