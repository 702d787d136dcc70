import { AppError } from "@chat/common/errors";
import { isAttachmentIdOf, isClientMsgId, isObjectId, isUserId } from "@chat/common/grammar";
import { MESSAGE_TYPES, parseText, type MessageLimits, type MessageType } from "@chat/common/message";

// A client's frames as the relay reads them: the frame as a JSON object, its `client_msg_id`
// first (every later error echoes it), then the send itself. Only the relay reads client frames.

const TYPES = new Set<string>(MESSAGE_TYPES);

/** What the client sent, after validation. */
export interface Outgoing {
  channel_id: string;
  to: string;
  type: MessageType;
  data: string;
  client_msg_id?: string;
  reply_to?: string;
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
  if (o.reply_to !== undefined && !isObjectId(o.reply_to)) fail("reply_to must be a message id (24 lowercase hex)");
  let data: string;
  if (o.type === "text") data = parseText(o.data, limits);
  else {
    if (typeof o.data !== "string" || !isAttachmentIdOf(o.channel_id as string, o.data)) fail("data must be an attachment id of this team (<team_id>/<id>)");
    data = o.data as string;
  }
  const out: Outgoing = { channel_id: o.channel_id as string, to: o.to as string, type: o.type as MessageType, data };
  if (clientMsgId !== undefined) out.client_msg_id = clientMsgId;
  if (o.reply_to !== undefined) out.reply_to = o.reply_to as string;
  return out;
}

/** A whole send frame, parsed and checked (the relay calls the three steps itself, to echo `client_msg_id` on errors). */
export function parseOutgoing(raw: string, limits: MessageLimits): Outgoing {
  const o = parseFrameObject(raw);
  return parseSend(o, limits, clientMsgIdOf(o));
}
