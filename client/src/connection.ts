import { Emitter } from "./emitter";
import { newClientMsgId, tokenExpiry } from "./ids";
import {
  CLOSE,
  isChannelEvent,
  parseServerFrame,
  type AckEvent,
  type ClientFrame,
  type DeleteFrame,
  type EditFrame,
  type ErrorEvent,
  type ReactFrame,
  type ReadFrame,
  type ReadyEvent,
  type SendFrame,
  type ServerEvent,
  type ServerEventName,
} from "./protocol";

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

interface Outgoing {
  frame: ClientFrame & { client_msg_id: string };
  createdAt: number;
  attempts: number;
  resolve: (ack: Ack) => void;
  reject: (err: SendError) => void;
  retryTimer?: ReturnType<typeof setTimeout>;
}

const OPEN = 1;
const CONNECT_MARGIN_MS = 5_000;

/**
 * One logical connection to the relay that survives reconnects: it resumes every channel with
 * `?since=<ch>:<lastSeq>` and drops what it already had (by `seq` per channel), resends every
 * unacked frame with its `client_msg_id` (the server dedupes, so nothing is doubled), refreshes the
 * token before `exp`, and backs off with jitter when the server cannot be reached.
 */
export class ChatConnection extends Emitter<ConnectionEvents> {
  state: ConnectionState = "idle";
  /** The user, from `ready`. */
  user: string | undefined;
  /** Channels this connection covers now: `ready.channels`, then followed live. */
  readonly channels = new Set<string>();
  /** Highest seq processed per channel: the resume point. */
  readonly lastSeq = new Map<string, number>();
  typingTtlMs = 6_000;
  /** The token's `exp` (ms) as the server last said. */
  expiresAt: number | undefined;

  private ws: WebSocketLike | undefined;
  private token: string | undefined;
  private tokenPromise: Promise<string> | undefined;
  private readonly outbox = new Map<string, Outgoing>();
  private failures = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: WebSocketLike | undefined;
  private firstReady: { promise: Promise<ReadyEvent>; resolve: (r: ReadyEvent) => void; reject: (e: Error) => void };
  private bucket: { tokens: number; at: number };
  private readonly paced: string[] = [];
  private paceTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly opts: Required<Omit<ConnectionOptions, "channels" | "webSocket" | "fetch">> & Pick<ConnectionOptions, "channels" | "webSocket" | "fetch">;

  constructor(options: ConnectionOptions) {
    super();
    this.opts = {
      backoff: {},
      refreshBeforeMs: 60_000,
      resendWindowMs: 300_000,
      rate: { perSec: 20, burst: 40 },
      ...options,
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
    };
    let resolve!: (r: ReadyEvent) => void, reject!: (e: Error) => void;
    const promise = new Promise<ReadyEvent>((res, rej) => ((resolve = res), (reject = rej)));
    promise.catch(() => {});
    this.firstReady = { promise, resolve, reject };
    this.bucket = { tokens: this.opts.rate.burst, at: Date.now() };
  }

  /** Opens the connection; resolves with the first `ready` (later reconnects happen on their own). */
  connect(): Promise<ReadyEvent> {
    if (this.state === "idle") void this.open();
    return this.firstReady.promise;
  }

  /** Closes for good: pending sends fail with `closed`. */
  close(): void {
    if (this.state === "closed") return;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.refreshTimer);
    clearTimeout(this.paceTimer);
    const ws = this.ws;
    this.ws = undefined;
    this.setState("closed");
    ws?.close(CLOSE.normal);
    for (const [id, o] of this.outbox) this.fail(id, o, new SendError("closed", "connection closed", id));
    this.firstReady.reject(new Error("connection closed"));
  }

  /** Drops the current socket and reconnects at once (e.g. the browser came back online). */
  reconnectNow(): void {
    if (this.state === "closed") return;
    if (this.state === "unauthorized") {
      this.token = undefined; // ask the provider again, e.g. after the user signed in again
      this.setState("reconnecting");
    }
    clearTimeout(this.reconnectTimer);
    this.failures = 0;
    if (this.ws) this.ws.close(4000, "client reconnect");
    else void this.open();
  }

  /**
   * A resume point learned elsewhere (the newest seq of a history page loaded while connected):
   * only used for a channel the socket has not reported a seq for yet.
   */
  seedResumePoint(channelId: string, seq: number): void {
    if (!this.lastSeq.has(channelId)) this.lastSeq.set(channelId, seq);
  }

  get pendingCount(): number {
    return this.outbox.size;
  }

  /** Sends a message (§3; a reply with `reply_to`, §9). Resolves on the ack; resent across reconnects. */
  send(frame: Omit<SendFrame, "client_msg_id"> & { client_msg_id?: string }): { clientMsgId: string; acked: Promise<Ack> } {
    const clientMsgId = frame.client_msg_id ?? newClientMsgId();
    return { clientMsgId, acked: this.enqueue({ ...frame, client_msg_id: clientMsgId }) };
  }
  edit(channelId: string, id: string, data: string): Promise<Ack> {
    return this.enqueue<EditFrame & { client_msg_id: string }>({ op: "edit", channel_id: channelId, id, data, client_msg_id: newClientMsgId("e") });
  }
  delete(channelId: string, id: string): Promise<Ack> {
    return this.enqueue<DeleteFrame & { client_msg_id: string }>({ op: "delete", channel_id: channelId, id, client_msg_id: newClientMsgId("d") });
  }
  react(channelId: string, id: string, emoji: string, on: boolean): Promise<Ack> {
    return this.enqueue<ReactFrame & { client_msg_id: string }>({ op: "react", channel_id: channelId, id, emoji, on, client_msg_id: newClientMsgId("r") });
  }
  markRead(channelId: string, seq: number): Promise<Ack> {
    return this.enqueue<ReadFrame & { client_msg_id: string }>({ op: "read", channel_id: channelId, seq, client_msg_id: newClientMsgId("k") });
  }
  /** Ephemeral (§10): sent only when open and under the rate, never queued or resent. */
  typing(channelId: string, to = "*"): void {
    if (this.state !== "open" || !this.ws || !this.take()) return;
    this.ws.send(JSON.stringify({ op: "typing", channel_id: channelId, to }));
  }

  // ---- connecting --------------------------------------------------------------------------------

  private setState(state: ConnectionState, code?: number, reason?: string): void {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this.emit("state", { state, previous, code, reason });
  }

  /** The token for the next connect: the cached one unless it is about to expire, else a new one. */
  private getToken(reason: "connect" | "refresh" | "rejected"): Promise<string> {
    // A refresh in flight wins over the cached token: a reconnect racing it waits for the new one.
    if (this.tokenPromise) return this.tokenPromise;
    if (reason === "connect" && this.token) {
      const exp = tokenExpiry(this.token) ?? this.expiresAt;
      if (exp === undefined || exp - Date.now() > CONNECT_MARGIN_MS) return Promise.resolve(this.token);
      reason = "refresh";
    }
    // One provider call at a time.
    const p = (this.tokenPromise = Promise.resolve()
      .then(() => this.opts.token(reason))
      .then(
        (t) => {
          this.token = t;
          this.tokenPromise = undefined;
          return t;
        },
        (err) => {
          this.tokenPromise = undefined;
          throw err;
        },
      ));
    return p;
  }

  private url(token: string): string {
    const u = new URL("/v1/ws", this.opts.baseUrl.replace(/^http/, "ws"));
    u.searchParams.set("access_token", token);
    for (const ch of this.opts.channels ?? []) u.searchParams.append("channel_id", ch);
    for (const [ch, seq] of this.lastSeq) u.searchParams.append("since", `${ch}:${seq}`);
    return u.toString();
  }

  private async open(): Promise<void> {
    if (this.state === "closed" || this.state === "unauthorized") return;
    this.setState(this.state === "idle" ? "connecting" : "reconnecting");
    let token: string;
    try {
      token = await this.getToken("connect");
    } catch {
      return this.scheduleReconnect();
    }
    if ((this.state as ConnectionState) === "closed" || this.ws) return; // closed while the token came
    const factory = this.opts.webSocket ?? ((url: string) => new WebSocket(url) as unknown as WebSocketLike);
    let ws: WebSocketLike;
    try {
      ws = factory(this.url(token));
    } catch {
      return this.scheduleReconnect();
    }
    this.ws = ws;
    let ready = false;
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      const f = parseServerFrame(e.data);
      if (!f) return;
      if (f.event === "ready") ready = true;
      this.handle(ws, f);
    };
    ws.onerror = () => {};
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.refreshing = undefined;
      this.paced.length = 0; // resent from the outbox after the next ready
      clearTimeout(this.refreshTimer);
      if (this.state === "closed") return;
      this.setState("reconnecting", e.code, e.reason);
      void this.afterClose(e.code, ready, token);
    };
  }

  private async afterClose(code: number, wasReady: boolean, token: string): Promise<void> {
    if (code === CLOSE.tokenExpired || code === CLOSE.wrongUser) {
      // The token is spent (or was someone else's): never reuse it.
      if (this.token === token) this.token = undefined;
    }
    if (!wasReady) {
      this.failures++;
      if ((await this.diagnose(token)) === "unauthorized") return;
      return this.scheduleReconnect();
    }
    // A socket that was up: come back at once, with a little jitter so a restarted server is not stampeded.
    this.failures = 0;
    this.scheduleReconnect(Math.random() * (this.opts.backoff.initialMs ?? 300));
  }

  /**
   * The upgrade failed before `ready`. A browser cannot see the HTTP status of a refused upgrade,
   * the REST API can: 401 means a new token is needed, and teams left while away are dropped from
   * `since` (they would make the upgrade a 403).
   */
  private async diagnose(token: string): Promise<"ok" | "unauthorized"> {
    const f: FetchFn = this.opts.fetch ?? ((input, init) => fetch(input, init));
    let res: Response;
    try {
      res = await f(`${this.opts.baseUrl}/v1/teams?limit=100`, { headers: { authorization: `Bearer ${token}` } });
    } catch {
      return "ok"; // unreachable: back off and retry
    }
    if (res.status === 401) {
      if (this.token === token) this.token = undefined;
      let fresh: string;
      try {
        fresh = await this.getToken("rejected");
      } catch {
        return "ok";
      }
      if (fresh === token) {
        this.setState("unauthorized");
        this.firstReady.reject(new Error("token rejected"));
        return "unauthorized";
      }
      this.failures = 0;
      return "ok";
    }
    if (res.ok && !this.opts.channels) {
      const body = (await res.json().catch(() => undefined)) as { data?: { id: string; active: boolean }[]; next?: unknown } | undefined;
      // Only a complete list can tell which teams are gone.
      if (body?.data && body.next == null) {
        const active = new Set(body.data.filter((t) => t.active).map((t) => t.id));
        for (const ch of [...this.lastSeq.keys()]) if (!active.has(ch)) this.lastSeq.delete(ch);
      }
    }
    return "ok";
  }

  private scheduleReconnect(delay?: number): void {
    if (this.state === "closed" || this.state === "unauthorized") return;
    const { initialMs = 300, maxMs = 30_000 } = this.opts.backoff;
    const d = delay ?? Math.min(maxMs, initialMs * 2 ** Math.max(0, this.failures - 1)) * (0.5 + Math.random() / 2);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.open(), d);
  }

  // ---- frames in -----------------------------------------------------------------------------------

  private handle(ws: WebSocketLike, f: ServerEvent): void {
    switch (f.event) {
      case "ready":
        return this.onReady(ws, f);
      case "ack":
        return this.onAck(f);
      case "error":
        this.onError(f);
        break;
      case "token_expiring":
        this.expiresAt = Date.parse(f.expires_at) || this.expiresAt;
        void this.refresh(ws);
        break;
      case "channel_left":
        this.channels.delete(f.channel_id);
        this.lastSeq.delete(f.channel_id);
        break;
    }
    if (isChannelEvent(f)) {
      const last = this.lastSeq.get(f.channel_id);
      if (last !== undefined && f.seq <= last) return; // already had it: a resume overlapping what we saw
      this.lastSeq.set(f.channel_id, f.seq);
      if (f.event === "member_joined" && f.user === this.user) this.channels.add(f.channel_id);
      // Our own echo proves the send durable even if its ack was lost with the socket.
      if (f.event === "message" && f.from === this.user && f.client_msg_id) {
        const o = this.outbox.get(f.client_msg_id);
        if (o && !("op" in o.frame)) this.settle(f.client_msg_id, o, { event: "ack", client_msg_id: f.client_msg_id, id: f.id, seq: f.seq, ts: f.ts });
      }
    }
    this.emit(f.event, f as never);
    this.emit("frame", f);
  }

  private onReady(ws: WebSocketLike, f: ReadyEvent): void {
    this.user = f.user;
    this.channels.clear();
    for (const ch of f.channels) this.channels.add(ch);
    for (const ch of [...this.lastSeq.keys()]) if (!this.channels.has(ch)) this.lastSeq.delete(ch);
    if (f.typing_ttl_ms) this.typingTtlMs = f.typing_ttl_ms;
    this.expiresAt = f.expires_at ? Date.parse(f.expires_at) : (this.token && tokenExpiry(this.token)) || undefined;
    this.failures = 0;
    this.setState("open");
    this.scheduleRefresh(ws);
    this.emit("ready", f);
    this.emit("frame", f);
    this.firstReady.resolve(f);
    this.flushOutbox();
  }

  private onAck(f: AckEvent): void {
    if (f.op === "refresh") {
      if (f.expires_at) this.expiresAt = Date.parse(f.expires_at);
      this.refreshing = undefined;
      if (this.ws) this.scheduleRefresh(this.ws);
    } else if (f.client_msg_id) {
      const o = this.outbox.get(f.client_msg_id);
      if (o) this.settle(f.client_msg_id, o, f as Ack);
    }
    this.emit("ack", f);
    this.emit("frame", f);
  }

  private onError(f: ErrorEvent): void {
    const id = f.client_msg_id;
    const o = id ? this.outbox.get(id) : undefined;
    if (!id || !o) return;
    if (f.code === "rate_limited" || f.code === "unavailable") {
      // Transient: the same frame again later (same client_msg_id, so never doubled).
      clearTimeout(o.retryTimer);
      o.retryTimer = setTimeout(() => this.transmit(o), Math.min(10_000, 500 * 2 ** Math.min(o.attempts, 5)) * (0.5 + Math.random() / 2));
      return;
    }
    this.fail(id, o, new SendError(f.code, f.message, id));
  }

  // ---- token lifetime (§11) ------------------------------------------------------------------------

  private scheduleRefresh(ws: WebSocketLike): void {
    clearTimeout(this.refreshTimer);
    if (this.expiresAt === undefined) return;
    // A little earlier than the server's warning, with jitter so many clients do not refresh at once.
    const at = this.expiresAt - this.opts.refreshBeforeMs - Math.random() * 5_000;
    this.refreshTimer = setTimeout(() => void this.refresh(ws), Math.max(0, Math.min(at - Date.now(), 2 ** 31 - 1)));
  }

  private async refresh(ws: WebSocketLike): Promise<void> {
    if (this.refreshing === ws) return;
    this.refreshing = ws;
    const old = this.token;
    let token: string;
    try {
      token = await this.getToken("refresh");
    } catch {
      this.refreshing = undefined;
      return;
    }
    // The socket may have gone meanwhile: the next connect uses the new token anyway.
    if (this.ws !== ws || ws.readyState !== OPEN) return;
    if (token === old) {
      this.refreshing = undefined; // nothing new: the server closes with 4001 at exp and we reconnect
      return;
    }
    ws.send(JSON.stringify({ op: "refresh", token, client_msg_id: newClientMsgId("t") }));
  }

  // ---- frames out ----------------------------------------------------------------------------------

  private enqueue<F extends ClientFrame & { client_msg_id: string }>(frame: F): Promise<Ack> {
    if (this.state === "closed") return Promise.reject(new SendError("closed", "connection closed", frame.client_msg_id));
    return new Promise<Ack>((resolve, reject) => {
      const o: Outgoing = { frame, createdAt: Date.now(), attempts: 0, resolve, reject };
      this.outbox.set(frame.client_msg_id, o);
      this.emit("outbox", { pending: this.outbox.size });
      if (this.state === "open") this.transmit(o);
    });
  }

  private flushOutbox(): void {
    for (const [id, o] of this.outbox) {
      if (Date.now() - o.createdAt > this.opts.resendWindowMs) this.fail(id, o, new SendError("expired", "not acknowledged within the dedupe window", id));
      else this.transmit(o);
    }
  }

  private transmit(o: Outgoing): void {
    clearTimeout(o.retryTimer);
    if (this.state !== "open" || !this.ws || !this.outbox.has(o.frame.client_msg_id)) return;
    o.attempts++;
    this.pace(JSON.stringify(o.frame));
  }

  /** Frames leave no faster than the server's bucket refills; the rest wait here, in order. */
  private pace(raw: string): void {
    this.paced.push(raw);
    this.drain();
  }
  private drain(): void {
    clearTimeout(this.paceTimer);
    while (this.paced.length && this.ws && this.ws.readyState === OPEN && this.take()) this.ws.send(this.paced.shift()!);
    if (!this.ws || this.state !== "open") this.paced.length = 0; // resent from the outbox after the next ready
    else if (this.paced.length) this.paceTimer = setTimeout(() => this.drain(), 1000 / this.opts.rate.perSec);
  }
  private take(): boolean {
    const now = Date.now();
    const { perSec, burst } = this.opts.rate;
    this.bucket.tokens = Math.min(burst, this.bucket.tokens + ((now - this.bucket.at) / 1000) * perSec);
    this.bucket.at = now;
    if (this.bucket.tokens < 1) return false;
    this.bucket.tokens--;
    return true;
  }

  private settle(id: string, o: Outgoing, ack: Ack): void {
    clearTimeout(o.retryTimer);
    this.outbox.delete(id);
    o.resolve(ack);
    this.emit("outbox", { pending: this.outbox.size });
  }
  private fail(id: string, o: Outgoing, err: SendError): void {
    clearTimeout(o.retryTimer);
    this.outbox.delete(id);
    o.reject(err);
    this.emit("outbox", { pending: this.outbox.size });
  }
}
