import type { Ack, ChatConnection } from "./connection";
import type { MessageType, ServerEvent } from "./protocol";
import type { RestClient } from "./rest";
import type { Role, Team } from "./rest-shapes";
import { conversationOf, newChannelState, type ChannelState, type ConversationKey, type MessageView, type PendingView } from "./view/channel-state";
import { applyDelete, applyEdit, applyReaction } from "./view/lifecycle";
import { applyMembership, applyTeam } from "./view/members";
import { ackPending, addHistoryPage, addMessage, addPending, addStored, failPending, findByClientId, pendingIn, thread, timeline } from "./view/messages";
import { applyPresence, noteTyping, TypingExpiry, typingIn } from "./view/typing-presence";
import { applyRead, markReadLocally, unreadCount } from "./view/unread";

export type { ChannelState, ConversationKey, MessageView, PendingView } from "./view/channel-state";

export interface StoreOptions {
  /** History page size (the server caps it at LIMIT_HISTORY_PAGE, 100). */
  pageSize?: number;
  now?: () => number;
}

/**
 * The in-memory view model of every channel the user is in, fed by the connection's events and
 * REST pages: messages in seq order with edits, deletes, reactions, threads, unread counts, typing
 * and presence. A UI subscribes and renders `channel(id)` directly; every change bumps `version`.
 * One file although past 300 lines: it is the one surface a UI holds, and each method only routes to
 * the per-concern modules under view/ (messages, lifecycle, unread, members, typing and presence).
 */
export class ChatStore {
  readonly channels = new Map<string, ChannelState>();
  /** The user's teams (REST), kept current by membership events. */
  readonly teams = new Map<string, Team>();
  version = 0;
  private teamsLoaded = false;
  private readonly listeners = new Set<() => void>();
  private notifyQueued = false;
  private readonly typingExpiry: TypingExpiry;
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
    this.typingExpiry = new TypingExpiry(this.channels, this.now, () => this.changed());
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
    if (!c) this.channels.set(id, (c = newChannelState(id)));
    return c;
  }

  // ---- reading the model -------------------------------------------------------------------------

  /** The conversation a message belongs to, from this user's point of view. */
  conversationOf(m: { to: string; from: string }): ConversationKey {
    return conversationOf(m, this.me);
  }

  /** Root messages of a conversation (replies live in threads), oldest first. */
  timeline(channelId: string, conv: ConversationKey = "*"): MessageView[] {
    const c = this.channels.get(channelId);
    return c ? timeline(c, conv, this.me) : [];
  }

  /** A thread: its root, then its replies in seq order. */
  thread(channelId: string, rootId: string): MessageView[] {
    const c = this.channels.get(channelId);
    return c ? thread(c, rootId) : [];
  }

  pendingIn(channelId: string, conv: ConversationKey = "*", replyTo?: string): PendingView[] {
    const c = this.channels.get(channelId);
    return c ? pendingIn(c, conv, replyTo) : [];
  }

  /** Unread messages of a channel (or of one conversation in it), not counting the user's own. */
  unread(channelId: string, conv?: ConversationKey): number {
    const c = this.channels.get(channelId);
    return c ? unreadCount(c, conv) : 0;
  }

  /** Users typing in a conversation now (the user excluded). */
  typingIn(channelId: string, conv: ConversationKey = "*"): string[] {
    const c = this.channels.get(channelId);
    return c ? typingIn(c, conv, this.now(), this.me) : [];
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
    applyTeam(this.channel(t.id), t);
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
    const { added, newest } = addHistoryPage(c, page);
    // The newest page, read while connected: a resume point for a channel the socket has not reported on.
    if (newest !== undefined) this.connection.seedResumePoint(channelId, newest);
    this.changed();
    return added;
  }

  /** Loads a thread's messages (§9 `?thread=`); without server support, what history has. */
  async loadThread(channelId: string, rootId: string): Promise<void> {
    const c = this.channel(channelId);
    try {
      const page = await this.rest.history(channelId, { thread: rootId, limit: 100 });
      for (const m of page.data) addStored(c, m);
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

  // ---- acting ----------------------------------------------------------------------------------------

  /** Sends a text or attachment message; it shows as pending until acked, as failed if refused. */
  send(channelId: string, input: { to?: string; type?: MessageType; data: string; reply_to?: string }): Promise<Ack> {
    const c = this.channel(channelId);
    const frame = { channel_id: channelId, to: input.to ?? "*", type: input.type ?? "text", data: input.data, ...(input.reply_to ? { reply_to: input.reply_to } : {}) };
    const { clientMsgId, acked } = this.connection.send(frame);
    addPending(c, clientMsgId, frame, new Date(this.now()).toISOString());
    this.changed();
    acked.then(
      (ack) => (ackPending(c, clientMsgId, frame, ack, this.me), this.changed()),
      (err: Error) => (failPending(c, clientMsgId, err.message, this.me), this.changed()),
    );
    return acked;
  }

  /** Whether our send with this client_msg_id reached the team (its echo is shown), whatever its ack. */
  delivered(channelId: string, clientMsgId: string | undefined): boolean {
    const c = this.channels.get(channelId);
    return !!(c && clientMsgId && this.me && findByClientId(c, this.me, clientMsgId));
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
    const upTo = markReadLocally(c, conv);
    if (upTo === undefined) return;
    this.changed();
    this.connection.markRead(channelId, upTo).catch(() => {}); // older servers refuse `op`: the marker stays local
  }

  // ---- applying server events ----------------------------------------------------------------------

  apply(f: ServerEvent): void {
    switch (f.event) {
      case "message":
        addMessage(this.channel(f.channel_id), f, true, this.me);
        break;
      case "message_edited":
        applyEdit(this.channel(f.channel_id), f);
        break;
      case "message_deleted":
        applyDelete(this.channel(f.channel_id), f);
        break;
      case "reaction_added":
      case "reaction_removed":
        applyReaction(this.channel(f.channel_id), f, this.me);
        break;
      case "read":
        applyRead(this.channel(f.channel_id), f, this.me);
        break;
      case "typing":
        noteTyping(this.channel(f.channel_id), f, this.now() + this.connection.typingTtlMs);
        this.typingExpiry.schedule();
        break;
      case "presence":
        applyPresence(this.channel(f.channel_id), f);
        break;
      case "member_joined":
      case "member_left":
      case "admin_added":
      case "admin_removed":
        applyMembership(this.channel(f.channel_id), f);
        // Roles such as a new super_admin are not in the events: re-read the team shortly.
        if (this.teamsLoaded) this.scheduleRefetch(f.channel_id);
        break;
      case "channel_left":
        this.channel(f.channel_id).left = true;
        this.teams.delete(f.channel_id);
        break;
      case "ready":
        if (this.teamsLoaded) for (const id of f.channels) if (!this.teams.has(id)) this.scheduleRefetch(id);
        break;
      default:
        return;
    }
    this.changed();
  }

  private scheduleRefetch(id: string): void {
    clearTimeout(this.refetch.get(id));
    const timer = setTimeout(() => (this.refetch.delete(id), void this.refreshTeam(id)), 200);
    this.refetch.set(id, timer);
  }

  /** Stops timers (the connection is closed separately). */
  dispose(): void {
    this.typingExpiry.stop();
    for (const t of this.refetch.values()) clearTimeout(t);
    this.listeners.clear();
  }
}
