import type { MessageEvent, ReadEvent } from "../protocol";
import type { Team } from "../rest-shapes";
import { bumpSeq, conversationOf, type ChannelState, type ConversationKey } from "./channel-state";

// Unread = the server's count at `unreadBaseSeq` (whole team only) plus live messages of others after
// it, all above the read marker `lastReadSeq`.

/** Unread messages of a channel (or of one conversation in it), not counting the user's own. */
export function unreadCount(c: ChannelState, conv?: ConversationKey): number {
  const base = conv === undefined || conv === "*" ? (c.lastReadSeq >= c.unreadBaseSeq ? 0 : c.unreadBase) : 0;
  return base + c.liveUnread.filter((u) => u.seq > c.lastReadSeq && (conv === undefined || u.conv === conv)).length;
}

/** The server's count from `GET /v1/teams` (§9); live messages it already counted are dropped. */
export function setServerUnread(c: ChannelState, t: Team): void {
  if (typeof t.unread !== "number" || typeof t.last_seq !== "number") return;
  c.unreadBase = t.unread;
  c.unreadBaseSeq = t.last_seq;
  c.liveUnread = c.liveUnread.filter((u) => u.seq > t.last_seq!);
  if (typeof t.last_read_seq === "number") c.lastReadSeq = Math.max(c.lastReadSeq, t.last_read_seq);
}

export function noteLiveUnread(c: ChannelState, f: MessageEvent, me: string | undefined): void {
  if (f.from !== me && f.seq > c.lastReadSeq) c.liveUnread.push({ seq: f.seq, conv: conversationOf(f, me) });
}

/** The user's marker moved (here or on another device). */
export function applyRead(c: ChannelState, f: ReadEvent, me: string | undefined): void {
  // The marker is `last_read_seq`; the event's own seq can be past messages that arrived meanwhile.
  if (f.user === me) c.lastReadSeq = Math.max(c.lastReadSeq, f.last_read_seq ?? f.seq);
  bumpSeq(c, f.seq);
}

/**
 * Moves the read marker as far as `conv` is concerned (all of it without one): it stops before the
 * first unread message of another conversation, since the server keeps one marker per team.
 * Returns the new marker, or undefined if it did not move.
 */
export function markReadLocally(c: ChannelState, conv?: ConversationKey): number | undefined {
  let upTo = c.lastSeq;
  if (conv !== undefined) {
    const other = c.liveUnread.find((u) => u.seq > c.lastReadSeq && u.conv !== conv);
    if (other) upTo = other.seq - 1;
  }
  if (upTo <= c.lastReadSeq) return undefined;
  c.lastReadSeq = upTo;
  return upTo;
}
