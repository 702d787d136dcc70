import type { MessageType } from "./protocol";

// What the REST API returns (PROTOCOL.md §4, §9); the socket's frames are in protocol.ts.

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
