/**
 * Every frame of the wire contract (PROTOCOL.md §3, §9, §10, §11), as TypeScript types.
 * Servers may add fields and events: readers ignore what they do not know.
 */

export type MessageType = "text" | "image" | "video" | "audio" | "file";
export const MESSAGE_TYPES: readonly MessageType[] = ["text", "image", "video", "audio", "file"];

/** Codes of `error` frames (§3). */
export type WsErrorCode = "invalid_message" | "forbidden" | "not_found" | "too_large" | "rate_limited" | "unavailable";
/** Codes of the REST error envelope (§4). */
export type RestErrorCode =
  | "validation"
  | "unauthenticated"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "too_large"
  | "rate_limited"
  | "internal"
  | "unavailable";

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
  seq: number;
  user: string;
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
/** Every `event` of the contract, at run time (the type below fails to compile if one is missing). */
export const SERVER_EVENT_NAMES = [
  "ready",
  "message",
  "ack",
  "error",
  "member_joined",
  "member_left",
  "admin_added",
  "admin_removed",
  "channel_left",
  "message_edited",
  "message_deleted",
  "reaction_added",
  "reaction_removed",
  "read",
  "typing",
  "presence",
  "token_expiring",
] as const satisfies readonly ServerEventName[];
type MissingEventName = Exclude<ServerEventName, (typeof SERVER_EVENT_NAMES)[number]>;
const allEventNamesListed: [MissingEventName] extends [never] ? true : MissingEventName = true;
void allEventNamesListed;

/** Events of a channel's log: they carry `seq`, strictly increasing per channel. */
export type ChannelEvent = MessageEvent | MembershipEvent | MessageEditedEvent | MessageDeletedEvent | ReactionEvent | ReadEvent;

const SEQUENCED = new Set<string>([
  "message",
  "member_joined",
  "member_left",
  "admin_added",
  "admin_removed",
  "message_edited",
  "message_deleted",
  "reaction_added",
  "reaction_removed",
  "read",
]);
export function isChannelEvent(f: ServerEvent): f is ChannelEvent {
  return SEQUENCED.has(f.event) && typeof (f as { seq?: unknown }).seq === "number" && typeof (f as { channel_id?: unknown }).channel_id === "string";
}

/** Parses one text frame; anything that is not an object with a string `event` is `undefined`. */
export function parseServerFrame(raw: unknown): ServerEvent | undefined {
  if (typeof raw !== "string") return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    if (v && typeof v === "object" && !Array.isArray(v) && typeof (v as { event?: unknown }).event === "string") return v as ServerEvent;
  } catch {}
  return undefined;
}

// ---- REST shapes (§4, §9) ----------------------------------------------------------------------

export interface Team {
  id: string;
  name: string;
  icon?: string;
  active: boolean;
  meta_tags: string[];
  members?: string[];
  admins?: string[];
  super_admin: string;
  doc: string;
  member_count?: number;
  /** §9 additions to `GET /v1/teams`. */
  last_seq?: number;
  last_read_seq?: number;
  unread?: number;
}
export type Role = "super_admin" | "admin" | "user";
export interface Member {
  user_id: string;
  role: Role;
}
export interface Reaction {
  emoji: string;
  count: number;
  me: boolean;
}
/** A message as history returns it, in its current state (§9). */
export interface StoredMessage {
  id: string;
  seq: number;
  channel_id: string;
  to: string;
  type: MessageType;
  data?: string;
  ts: string;
  from: string;
  client_msg_id?: string;
  reply_to?: string;
  edited_at?: string;
  deleted?: boolean;
  reactions?: Reaction[];
  reply_count?: number;
  last_reply_seq?: number;
}
export interface Page<T> {
  data: T[];
  next: string | number | null;
}
export interface CreatedAttachment {
  attachment_id: string;
  upload_url: string;
  upload_headers?: Record<string, string>;
  expires_at: string;
}
export interface ReadMarker {
  user_id: string;
  last_read_seq: number;
}

/** Close codes the server uses (docs/websocket.md). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  tooSlow: 1013,
  tokenExpired: 4001,
  wrongUser: 4003,
} as const;
