import { AppError } from "./errors";
import { isAttachmentIdOf, isClientMsgId, isObjectId, isUserId } from "./grammar";

export const MESSAGE_TYPES = ["text", "image", "video", "audio", "file"] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];
const TYPES = new Set<string>(MESSAGE_TYPES);
export const MEMBERSHIP_KINDS = ["member_joined", "member_left", "admin_added", "admin_removed"] as const;
export type MembershipKind = (typeof MEMBERSHIP_KINDS)[number];

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
}
export interface StoredMessage extends ChatMessage {
  seq: number;
}

/** What travels through the log, keyed by channel_id so a channel keeps its order. */
export type LogEntry =
  | ({ kind: "message" } & ChatMessage)
  | { kind: MembershipKind; channel_id: string; user: string; by: string; ts: string }
  | { kind: "team_updated"; channel_id: string; active: boolean; ts: string };

/** What the client sent, after validation. */
export interface Outgoing {
  channel_id: string;
  to: string;
  type: MessageType;
  data: string;
  client_msg_id?: string;
}

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

/** One client frame as a JSON object; anything else is `invalid_message`. */
export function parseFrameObject(raw: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new AppError("invalid_message", "frame is not valid JSON");
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new AppError("invalid_message", "frame must be a JSON object");
  return v as Record<string, unknown>;
}

/** The frame's `client_msg_id`, read first so that every later error can echo it. */
export function clientMsgIdOf(o: Record<string, unknown>): string | undefined {
  const cmid = o.client_msg_id;
  if (cmid !== undefined && !isClientMsgId(cmid))
    throw new AppError("invalid_message", "client_msg_id must be 1-64 printable ASCII characters");
  return cmid as string | undefined;
}

/**
 * Sanity-checks a send. Only the five known fields are read; anything else (a spoofed
 * `from`, `ts`, `id`) is dropped, never forwarded.
 */
export function parseSend(o: Record<string, unknown>, limits: MessageLimits, clientMsgId?: string): Outgoing {
  const fail = (msg: string): never => {
    throw new AppError("invalid_message", msg);
  };
  if (!isObjectId(o.channel_id)) fail("channel_id must be a team id (24 lowercase hex)");
  if (o.to !== "*" && !isUserId(o.to)) fail('to must be "*" or a user id');
  if (typeof o.type !== "string" || !TYPES.has(o.type)) fail("type must be one of text, image, video, audio, file");
  if (typeof o.data !== "string" || o.data.length === 0) fail("data must be a non-empty string");
  const data = o.data as string;
  if (!data.isWellFormed()) fail("data must be valid UTF-8 text");
  if (o.type === "text") {
    if (charCount(data, limits.textChars) > limits.textChars) throw new AppError("too_large", `text is longer than ${limits.textChars} characters`);
  } else if (!isAttachmentIdOf(o.channel_id as string, data)) {
    fail("data must be an attachment id of this team (<team_id>/<id>)");
  }
  const out: Outgoing = { channel_id: o.channel_id as string, to: o.to as string, type: o.type as MessageType, data };
  if (clientMsgId !== undefined) out.client_msg_id = clientMsgId;
  return out;
}

/** A whole send frame, parsed and checked (the relay calls the three steps itself, to echo `client_msg_id` on errors). */
export function parseOutgoing(raw: string, limits: MessageLimits): Outgoing {
  const o = parseFrameObject(raw);
  return parseSend(o, limits, clientMsgIdOf(o));
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
      return JSON.stringify(f);
    }
    case "team_updated":
      return JSON.stringify({ event: "team_updated", channel_id: entry.channel_id, active: entry.active, seq });
    default:
      return JSON.stringify({ event: entry.kind, channel_id: entry.channel_id, user: entry.user, by: entry.by, seq });
  }
}

export function messageFrame(m: StoredMessage): string {
  return frameOf({ kind: "message", ...m }, m.seq);
}

export function canSee(m: { to: string; from: string }, viewer: string): boolean {
  return m.to === "*" || m.to === viewer || m.from === viewer;
}
