import { EventKind, type Event } from "@chat/proto/chat/v1/controller_pb";
import { frameOf, messageFrame, type LogEntry, type StoredMessage } from "@chat/common/message";
import { newEvent } from "./hub";

const KIND: Record<LogEntry["kind"], EventKind> = {
  message: EventKind.MESSAGE,
  member_joined: EventKind.MEMBER_JOINED,
  member_left: EventKind.MEMBER_LEFT,
  admin_added: EventKind.ADMIN_ADDED,
  admin_removed: EventKind.ADMIN_REMOVED,
  team_updated: EventKind.TEAM_UPDATED,
};

/** A log entry at `seq` as the event relays route: the client frame is serialized here, once. */
export function toEvent(entry: LogEntry, seq: number): Event {
  const base = { kind: KIND[entry.kind], channelId: entry.channel_id, seq: BigInt(seq), frame: frameOf(entry, seq) };
  switch (entry.kind) {
    case "message":
      return newEvent({ ...base, to: entry.to, from: entry.from });
    case "team_updated":
      return newEvent({ ...base, active: entry.active });
    default:
      return newEvent({ ...base, to: entry.user, from: entry.by });
  }
}

export function storedToEvent(m: StoredMessage): Event {
  return newEvent({ kind: EventKind.MESSAGE, channelId: m.channel_id, seq: BigInt(m.seq), frame: messageFrame(m), to: m.to, from: m.from });
}
