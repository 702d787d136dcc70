import { EventKind, type Event } from "@chat/proto/chat/v1/controller_pb";
import { frameOf, messageFrame, type LogEntry, type MessageView, type StoredMessage } from "@chat/common/message";
import { newEvent } from "./hub";

const KIND: Record<Exclude<LogEntry["kind"], "reaction">, EventKind> = {
  message: EventKind.MESSAGE,
  member_joined: EventKind.MEMBER_JOINED,
  member_left: EventKind.MEMBER_LEFT,
  admin_added: EventKind.ADMIN_ADDED,
  admin_removed: EventKind.ADMIN_REMOVED,
  team_updated: EventKind.TEAM_UPDATED,
  message_edited: EventKind.MESSAGE_EDITED,
  message_deleted: EventKind.MESSAGE_DELETED,
  read: EventKind.READ,
};

/** A log entry at `seq` as the event relays route: the client frame is serialized here, once. */
export function toEvent(entry: LogEntry, seq: number): Event {
  const kind = entry.kind === "reaction" ? (entry.on ? EventKind.REACTION_ADDED : EventKind.REACTION_REMOVED) : KIND[entry.kind];
  const base = { kind, channelId: entry.channel_id, seq: BigInt(seq), frame: frameOf(entry, seq) };
  switch (entry.kind) {
    case "message":
      return newEvent({ ...base, to: entry.to, from: entry.from });
    case "team_updated":
      return newEvent({ ...base, active: entry.active });
    case "message_edited":
    case "message_deleted":
    case "reaction":
      // Routed like the message they change: a DM's events reach its two users only.
      return newEvent({ ...base, to: entry.to, from: entry.author });
    case "read":
      return newEvent({ ...base, to: entry.user, from: entry.user });
    default:
      return newEvent({ ...base, to: entry.user, from: entry.by });
  }
}

export function storedToEvent(m: StoredMessage | MessageView): Event {
  return newEvent({ kind: EventKind.MESSAGE, channelId: m.channel_id, seq: BigInt(m.seq), frame: messageFrame(m), to: m.to, from: m.from });
}
