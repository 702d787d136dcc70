import type { MessageEvent, SendFrame } from "../protocol";
import type { Page, StoredMessage } from "../rest-shapes";
import { bumpSeq, conversationOf, type ChannelState, type ConversationKey, type MessageView, type PendingView } from "./channel-state";
import { countReply } from "./lifecycle";
import { clearTyping } from "./typing-presence";
import { noteLiveUnread } from "./unread";

// A channel's messages by id, read back in seq order; pending sends are kept apart until acked.

const bySeq = (a: MessageView, b: MessageView) => a.seq - b.seq;

/** Root messages of a conversation (replies live in threads), oldest first. */
export function timeline(c: ChannelState, conv: ConversationKey, me: string | undefined): MessageView[] {
  return [...c.messages.values()].filter((m) => !m.reply_to && conversationOf(m, me) === conv).sort(bySeq);
}

/** A thread: its root, then its replies in seq order. */
export function thread(c: ChannelState, rootId: string): MessageView[] {
  const root = c.messages.get(rootId);
  const replies = [...c.messages.values()].filter((m) => m.reply_to === rootId).sort(bySeq);
  return root ? [root, ...replies] : replies;
}

export function pendingIn(c: ChannelState, conv: ConversationKey, replyTo: string | undefined): PendingView[] {
  return [...c.pending.values()].filter((p) => (p.to === "*" ? "*" : p.to) === conv && p.reply_to === replyTo);
}

export function findByClientId(c: ChannelState, from: string, clientMsgId: string): MessageView | undefined {
  for (const m of c.messages.values()) if (m.client_msg_id === clientMsgId && m.from === from) return m;
  return undefined;
}

/** A message from history, in its current state; false if the channel already had it. */
export function addStored(c: ChannelState, m: StoredMessage): boolean {
  if (c.messages.has(m.id)) return false;
  if (m.client_msg_id && !sameKeyMakesRoom(c, m.from, m.client_msg_id, m.seq, m.ts)) return false;
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

/**
 * A page of history, newest first. Returns how many messages were new, and for the channel's first
 * page the newest seq (where its log ends, as far as history knows).
 */
export function addHistoryPage(c: ChannelState, page: Page<StoredMessage>): { added: number; newest?: number } {
  let added = 0;
  for (const m of page.data) if (addStored(c, m)) added++;
  const seqs = page.data.map((m) => m.seq);
  if (seqs.length) c.oldestSeq = Math.min(c.oldestSeq ?? Infinity, ...seqs);
  const first = !c.loaded;
  if (first) c.lastSeq = Math.max(c.lastSeq, ...seqs, 0);
  c.loaded = true;
  c.hasMore = page.next !== null;
  return { added, newest: first ? (seqs.length ? Math.max(...seqs) : 0) : undefined };
}

/** The server's default dedupe window (PROTOCOL §3): a key reused later is another message. */
const DEDUPE_WINDOW_MS = 300_000;

/**
 * One send is shown once. Within the dedupe window the server keeps one message per key, so of two
 * under the same key the later seq is the one that exists: a standalone server lost the earlier to a
 * power loss after delivering it (before its fsync, never acked) and took the resend as new. Returns
 * whether the incoming one is to be added (an earlier copy dropped); past the window a key may name
 * another message, and both stay.
 */
function sameKeyMakesRoom(c: ChannelState, from: string, clientMsgId: string, seq: number, ts: string): boolean {
  const same = findByClientId(c, from, clientMsgId);
  if (!same || Math.abs(Date.parse(ts) - Date.parse(same.ts)) >= DEDUPE_WINDOW_MS) return true;
  if (same.seq >= seq) return false;
  dropMessage(c, same);
  return true;
}

/** Takes a message out as if it had never come: its count on its thread root, its unread mark. */
function dropMessage(c: ChannelState, m: MessageView): void {
  c.messages.delete(m.id);
  const root = m.reply_to ? c.messages.get(m.reply_to) : undefined;
  if (root) c.messages.set(root.id, { ...root, reply_count: Math.max(0, root.reply_count - 1) });
  c.liveUnread = c.liveUnread.filter((u) => u.seq !== m.seq);
}

/** A message pushed by the server (`live`) or known from an ack whose echo was lost. */
export function addMessage(c: ChannelState, f: MessageEvent, live: boolean, me: string | undefined): void {
  bumpSeq(c, f.seq);
  clearTyping(c, f.from);
  if (c.messages.has(f.id)) return;
  let unconfirmed: string | undefined;
  if (f.client_msg_id) {
    if (!sameKeyMakesRoom(c, f.from, f.client_msg_id, f.seq, f.ts)) return;
    if (f.from === me) {
      // Our send failed (no ack) yet the server delivered it: shown, marked like a failure after the echo.
      const p = c.pending.get(f.client_msg_id);
      if (p?.status === "failed") unconfirmed = p.error ?? "not acknowledged";
      c.pending.delete(f.client_msg_id);
    }
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
    ...(unconfirmed ? { unconfirmed } : {}),
  });
  countReply(c, f);
  if (live) noteLiveUnread(c, f, me);
}

export function addPending(c: ChannelState, clientMsgId: string, frame: Omit<SendFrame, "client_msg_id">, ts: string): void {
  c.pending.set(clientMsgId, { client_msg_id: clientMsgId, ...frame, ts, status: "sending" });
}

/** The echo normally brings the message; if it was lost with a socket, the ack is enough to show it. */
export function ackPending(c: ChannelState, clientMsgId: string, frame: Omit<SendFrame, "client_msg_id">, ack: { id?: string; seq?: number; ts?: string }, me: string | undefined): void {
  c.pending.delete(clientMsgId);
  if (ack.id && typeof ack.seq === "number" && !c.messages.has(ack.id) && me)
    addMessage(c, { event: "message", id: ack.id, seq: ack.seq, ts: ack.ts ?? new Date().toISOString(), from: me, client_msg_id: clientMsgId, ...frame }, false, me);
}

/** A refused send shows as failed; one whose echo was already shown stays, marked unconfirmed (so does one whose echo comes after). */
export function failPending(c: ChannelState, clientMsgId: string, error: string, me: string | undefined): void {
  const p = c.pending.get(clientMsgId);
  if (p) return void c.pending.set(clientMsgId, { ...p, status: "failed", error });
  const shown = me ? findByClientId(c, me, clientMsgId) : undefined;
  if (shown) c.messages.set(shown.id, { ...shown, unconfirmed: error });
}
