import type { ChannelEvent, ServerEvent, ServerEventName } from "./protocol";

// The run-time side of the frame types in protocol.ts: reading a frame off the socket.

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
