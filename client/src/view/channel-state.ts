import type { MessageType } from "../protocol";
import type { Reaction, Role, Team } from "../rest-shapes";

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
  /**
   * Our own message, shown from its echo, whose send then failed without an ack (why): it reached the
   * team, but the server never confirmed it stored (a standalone server delivers before its fsync).
   */
  unconfirmed?: string;
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

export function newChannelState(id: string): ChannelState {
  return {
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
}

export function bumpSeq(c: ChannelState, seq: number): void {
  if (seq > c.lastSeq) c.lastSeq = seq;
}

/** The conversation a message belongs to, from `me`'s point of view. */
export function conversationOf(m: { to: string; from: string }, me: string | undefined): ConversationKey {
  if (m.to === "*") return "*";
  return m.from === me ? m.to : m.from;
}
