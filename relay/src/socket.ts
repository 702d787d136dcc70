import type { ServerWebSocket } from "bun";
import type { Event } from "@chat/proto/chat/v1/controller_pb";
import { EventKind } from "@chat/proto/chat/v1/controller_pb";
import type { TokenBucket } from "./rate-limit";

/** A channel being replayed to one socket (`?since=` or a live join): the last seq sent, and live events held meanwhile. */
export interface Resume {
  floor: number;
  buffer: Event[];
}

/** What the relay keeps per socket (Bun's `ws.data`). */
export interface SocketData {
  user: string;
  /** Set when the client named its teams with ?channel_id: it then never joins others. */
  filtered: boolean;
  channels: Set<string>;
  /** Every active team of the user (presence: a user is online in all of them, whatever the connection covers). */
  teams: Set<string>;
  since: Map<string, number>;
  ready: boolean;
  closed: boolean;
  /** Frames received before `ready`, handled once it is sent. */
  inbox: string[];
  bucket: TokenBucket;
  resuming: Map<string, Resume>;
  openedAt: number;
  framesIn: number;
  /** The token's `exp` (ms): the socket is closed with 4001 then unless refreshed. */
  expiresAt: number;
  /** `token_expiring` sent for the current `expiresAt`. */
  warned: boolean;
}
export type WS = ServerWebSocket<SocketData>;

/** Bun topics: every member socket of a team, and the sockets of one user in a team (for DMs). */
export const broadcastTopic = (ch: string) => `c:${ch}`;
export const directTopic = (ch: string, user: string) => `d:${ch}:${user}`;
/** The channel of a topic above (channel ids never contain ':'). */
export const topicChannel = (topic: string) => {
  const end = topic.indexOf(":", 2);
  return end < 0 ? topic.slice(2) : topic.slice(2, end);
};

/** Events routed like messages: to "*" (the team), else only to their `to` and `from` (a DM's two users; a read's reader). */
export const ROUTED_BY_AUDIENCE = new Set([
  EventKind.MESSAGE,
  EventKind.MESSAGE_EDITED,
  EventKind.MESSAGE_DELETED,
  EventKind.REACTION_ADDED,
  EventKind.REACTION_REMOVED,
  EventKind.READ,
]);

/** Whether `user` may see an event: membership events and broadcasts always, DMs (and their lifecycle) only their two parties. */
export const visible = (ev: Event, user: string) => !ROUTED_BY_AUDIENCE.has(ev.kind) || ev.to === "*" || ev.to === user || ev.from === user;
