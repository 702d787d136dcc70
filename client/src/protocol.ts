/**
 * Every frame of the wire contract (PROTOCOL.md §3, §9, §10, §11), as TypeScript types.
 * Servers may add fields and events: readers ignore what they do not know.
 */

// REST shapes and the run-time parser have their own files; re-exported so `@chat/client/protocol` keeps every name.
export * from "./parse-frame";
export * from "./rest-shapes";

export type MessageType = "text" | "image" | "video" | "audio" | "file";
export const MESSAGE_TYPES: readonly MessageType[] = ["text", "image", "video", "audio", "file"];

/** Codes of `error` frames (§3). */
export type WsErrorCode = "invalid_message" | "forbidden" | "not_found" | "too_large" | "rate_limited" | "unavailable";

// ---- client → server ---------------------------------------------------------------------------

/** A send (§3); with `reply_to` a reply (§9). A frame without `op` is a send. */
export interface SendFrame {
  channel_id: string;
  to: string; // "*" or a member's user id (DM)
  type: MessageType;
  data: string; // text, or an attachment id for the other types
  client_msg_id?: string;
  reply_to?: string;
}
export interface EditFrame {
  op: "edit";
  channel_id: string;
  id: string;
  data: string;
  client_msg_id?: string;
}
export interface DeleteFrame {
  op: "delete";
  channel_id: string;
  id: string;
  client_msg_id?: string;
}
export interface ReactFrame {
  op: "react";
  channel_id: string;
  id: string;
  emoji: string;
  on: boolean;
  client_msg_id?: string;
}
export interface ReadFrame {
  op: "read";
  channel_id: string;
  seq: number;
  client_msg_id?: string;
}
export interface TypingFrame {
  op: "typing";
  channel_id: string;
  to: string;
}
export interface RefreshFrame {
  op: "refresh";
  token: string;
  client_msg_id?: string;
}
export type OpFrame = EditFrame | DeleteFrame | ReactFrame | ReadFrame | TypingFrame | RefreshFrame;
export type ClientFrame = SendFrame | OpFrame;
export type Op = OpFrame["op"];

// ---- server → client ---------------------------------------------------------------------------

export interface ReadyEvent {
  event: "ready";
  user: string;
  channels: string[];
  /** §11: the token's `exp`, ISO 8601. */
  expires_at?: string;
  /** §10: how long to show a typing indicator. */
  typing_ttl_ms?: number;
}

/** A message as pushed live (and as listed by history, without `event`). */
export interface MessageEvent {
  event: "message";
  id: string;
  seq: number;
  channel_id: string;
  to: string;
  type: MessageType;
  data: string;
  ts: string;
  from: string;
  client_msg_id?: string;
  reply_to?: string;
}

/** Ack of a send (no `op`) or of an op (§9); a refresh ack carries `expires_at` instead of id/seq. */
export interface AckEvent {
  event: "ack";
  op?: Op;
  client_msg_id?: string;
  id?: string;
  seq?: number;
  ts?: string;
  expires_at?: string;
}

export interface ErrorEvent {
  event: "error";
  code: WsErrorCode;
  message: string;
  client_msg_id?: string;
}

export type MembershipEventName = "member_joined" | "member_left" | "admin_added" | "admin_removed";
export interface MembershipEvent {
  event: MembershipEventName;
  channel_id: string;
  user: string;
  by: string;
  seq: number;
}
export interface ChannelLeftEvent {
  event: "channel_left";
  channel_id: string;
}

export interface MessageEditedEvent {
  event: "message_edited";
  channel_id: string;
  id: string;
  seq: number;
  data: string;
  edited_at: string;
  by: string;
}
export interface MessageDeletedEvent {
  event: "message_deleted";
  channel_id: string;
  id: string;
  seq: number;
  by: string;
}
export interface ReactionEvent {
  event: "reaction_added" | "reaction_removed";
  channel_id: string;
  id: string;
  seq: number;
  emoji: string;
  user: string;
}
export interface ReadEvent {
  event: "read";
  channel_id: string;
  /** The read entry's own place in the log (like every event's). */
  seq: number;
  user: string;
  /** The marker itself: everything up to this seq is read (it can be below `seq`). */
  last_read_seq?: number;
}
export interface TypingEvent {
  event: "typing";
  channel_id: string;
  user: string;
  to: string;
}
export interface PresenceEvent {
  event: "presence";
  channel_id: string;
  online: string[];
  offline: string[];
}
export interface TokenExpiringEvent {
  event: "token_expiring";
  expires_at: string;
}

export type ServerEvent =
  | ReadyEvent
  | MessageEvent
  | AckEvent
  | ErrorEvent
  | MembershipEvent
  | ChannelLeftEvent
  | MessageEditedEvent
  | MessageDeletedEvent
  | ReactionEvent
  | ReadEvent
  | TypingEvent
  | PresenceEvent
  | TokenExpiringEvent;
export type ServerEventName = ServerEvent["event"];

/** Events of a channel's log: they carry `seq`, strictly increasing per channel. */
export type ChannelEvent = MessageEvent | MembershipEvent | MessageEditedEvent | MessageDeletedEvent | ReactionEvent | ReadEvent;

/** Close codes the server uses (docs/websocket.md). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  tooSlow: 1013,
  tokenExpired: 4001,
  wrongUser: 4003,
} as const;
