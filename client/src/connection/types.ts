import type { AckEvent, ErrorEvent, ServerEvent, ServerEventName } from "../protocol";

/** Asked for a token on every (re)connect that needs one and before `exp` (§11); `reason` says why. */
export type ConnectionTokenProvider = (reason: "connect" | "refresh" | "rejected") => string | Promise<string>;

/** The part of WHATWG WebSocket this client uses (browsers, Bun, Node ≥ 22, or a test double). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;
export type WebSocketFactory = (url: string) => WebSocketLike;

/** `WebSocket.OPEN`, which a test double need not define. */
export const OPEN = 1;

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "unauthorized" | "closed";

export interface ConnectionOptions {
  /** http(s)://host:port of the service; the socket is `ws(s)://host:port/v1/ws`. */
  baseUrl: string;
  token: ConnectionTokenProvider;
  /** Limit the connection to these teams (`?channel_id=`); default: all of the user's teams, followed live. */
  channels?: string[];
  webSocket?: WebSocketFactory;
  fetch?: FetchFn;
  /** Reconnect backoff: the n-th failed attempt waits min(maxMs, initialMs·2ⁿ)·[0.5, 1). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Refresh the token this long before its `exp` (the server warns 60 s before). */
  refreshBeforeMs?: number;
  /** Unacked frames older than this are failed instead of resent (the server's dedupe window). */
  resendWindowMs?: number;
  /** Client-side pacing of frames, kept under the server's per-connection limit (20/s, burst 40). */
  rate?: { perSec: number; burst: number };
}

/** Ack of a send or op; `client_msg_id` is always set. */
export type Ack = AckEvent & { client_msg_id: string };

/** A send or op refused by the server (`code` from the error frame) or given up on. */
export class SendError extends Error {
  override name = "SendError";
  constructor(
    readonly code: ErrorEvent["code"] | "expired" | "closed",
    message: string,
    readonly clientMsgId?: string,
  ) {
    super(message);
  }
}

type EventMap = { [K in ServerEventName]: Extract<ServerEvent, { event: K }> };
export interface ConnectionEvents extends EventMap {
  /** Every server frame, after duplicates of a resume were dropped. */
  frame: ServerEvent;
  state: { state: ConnectionState; previous: ConnectionState; code?: number; reason?: string };
  /** The unacked frames changed (a send added, acked, or failed). */
  outbox: { pending: number };
}
