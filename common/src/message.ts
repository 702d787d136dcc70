import { AppError } from "./errors";
import type { LifecycleEntry } from "./lifecycle";
import type { ReactionCount } from "./lifecycle-apply";

export const MESSAGE_TYPES = ["text", "image", "video", "audio", "file"] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];
export const MEMBERSHIP_KINDS = ["member_joined", "member_left", "admin_added", "admin_removed"] as const;
export type MembershipKind = (typeof MEMBERSHIP_KINDS)[number];

/** One client_msg_id claim: a sender's key in a channel (the same string in every store and in memory). */
export const clientMsgKey = (channelId: string, from: string, clientMsgId: string) => JSON.stringify([channelId, from, clientMsgId]);

/** A chat message as the server stamped it. */
export interface ChatMessage {
  id: string;
  channel_id: string;
  to: string;
  type: MessageType;
  data: string;
  from: string;
  ts: string;
  client_msg_id?: string;
  /** Replies: the thread root's id. */
  reply_to?: string;
}
export interface StoredMessage extends ChatMessage {
  seq: number;
}

/**
 * A message in its current state (history, resume): `data` after edits, no `data` once deleted.
 * Optional fields appear only when they say something (edited, deleted, a root with replies, reactions).
 */
export interface MessageView extends Omit<StoredMessage, "data"> {
  data?: string;
  edited_at?: string;
  deleted?: true;
  reply_count?: number;
  last_reply_seq?: number;
  reactions?: (ReactionCount & { me: boolean })[];
}

/** What travels through the log, keyed by channel_id so a channel keeps its order. */
export type LogEntry =
  | ({ kind: "message" } & ChatMessage)
  | { kind: MembershipKind; channel_id: string; user: string; by: string; ts: string }
  | { kind: "team_updated"; channel_id: string; active: boolean; ts: string }
  | LifecycleEntry;

export interface MessageLimits {
  textChars: number;
}

/** Code points, without allocating for the common all-BMP case. */
function charCount(s: string, limit: number): number {
  if (s.length <= limit) return s.length; // a string of n UTF-16 units has at most n code points
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) i++;
    n++;
  }
  return n;
}

/** The text of a text message (a send or an edit): non-empty, well-formed, at most `textChars` code points. */
export function parseText(v: unknown, limits: MessageLimits): string {
  if (typeof v !== "string" || v.length === 0) throw new AppError("invalid_message", "data must be a non-empty string");
  if (!v.isWellFormed()) throw new AppError("invalid_message", "data must be valid UTF-8 text");
  if (charCount(v, limits.textChars) > limits.textChars) throw new AppError("too_large", `text is longer than ${limits.textChars} characters`);
  return v;
}

/** The client-facing frame of a log entry at `seq`; serialized once, sent to every socket as is. */
export function frameOf(entry: LogEntry, seq: number): string {
  switch (entry.kind) {
    case "message": {
      const f: Record<string, unknown> = {
        event: "message",
        id: entry.id,
        seq,
        channel_id: entry.channel_id,
        to: entry.to,
        type: entry.type,
        data: entry.data,
        ts: entry.ts,
        from: entry.from,
      };
      if (entry.client_msg_id) f.client_msg_id = entry.client_msg_id;
      if (entry.reply_to) f.reply_to = entry.reply_to;
      return JSON.stringify(f);
    }
    case "team_updated":
      return JSON.stringify({ event: "team_updated", channel_id: entry.channel_id, active: entry.active, seq });
    case "message_edited":
      return JSON.stringify({ event: "message_edited", channel_id: entry.channel_id, id: entry.id, seq, data: entry.data, edited_at: entry.edited_at, by: entry.by });
    case "message_deleted":
      return JSON.stringify({ event: "message_deleted", channel_id: entry.channel_id, id: entry.id, seq, by: entry.by });
    case "reaction":
      return JSON.stringify({ event: entry.on ? "reaction_added" : "reaction_removed", channel_id: entry.channel_id, id: entry.id, seq, emoji: entry.emoji, user: entry.user });
    case "read":
      // `seq` is the entry's, like every event's; `last_read_seq` is the marker it set.
      return JSON.stringify({ event: "read", channel_id: entry.channel_id, seq, user: entry.user, last_read_seq: entry.seq });
    default:
      return JSON.stringify({ event: entry.kind, channel_id: entry.channel_id, user: entry.user, by: entry.by, seq });
  }
}

/** A stored message as a `message` frame in its current state (resume): edited text and `edited_at`, or `deleted` without data. */
export function messageFrame(m: StoredMessage | MessageView): string {
  const f: Record<string, unknown> = { event: "message", id: m.id, seq: m.seq, channel_id: m.channel_id, to: m.to, type: m.type };
  const v = m as MessageView;
  if (v.deleted) f.deleted = true;
  else f.data = m.data;
  f.ts = m.ts;
  f.from = m.from;
  if (m.client_msg_id) f.client_msg_id = m.client_msg_id;
  if (m.reply_to) f.reply_to = m.reply_to;
  if (v.edited_at && !v.deleted) f.edited_at = v.edited_at;
  return JSON.stringify(f);
}

export function canSee(m: { to: string; from: string }, viewer: string): boolean {
  return m.to === "*" || m.to === viewer || m.from === viewer;
}
