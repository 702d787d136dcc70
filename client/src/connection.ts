import { Backoff } from "./connection/backoff";
import { Outbox } from "./connection/outbox";
import { Pacer } from "./connection/pacer";
import { ResumePoints } from "./connection/resume-points";
import { TokenKeeper } from "./connection/token-keeper";
import { diagnoseUpgrade } from "./connection/upgrade-diagnosis";
import { SendError, type Ack, type ConnectionEvents, type ConnectionOptions, type ConnectionState, type WebSocketLike } from "./connection/types";
import { Emitter } from "./emitter";
import { newClientMsgId } from "./ids";
import { isChannelEvent, parseServerFrame } from "./parse-frame";
import { CLOSE, type AckEvent, type ClientFrame, type DeleteFrame, type EditFrame, type ReactFrame, type ReadFrame, type ReadyEvent, type SendFrame, type ServerEvent } from "./protocol";

export { SendError, type Ack, type ConnectionEvents, type ConnectionOptions, type ConnectionState, type ConnectionTokenProvider, type FetchFn, type WebSocketFactory, type WebSocketLike } from "./connection/types";

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
  private readonly resume = new ResumePoints();
  /** Channels this connection covers now: `ready.channels`, then followed live. */
  readonly channels = this.resume.channels;
  /** Highest seq processed per channel: the resume point. */
  readonly lastSeq = this.resume.lastSeq;
  typingTtlMs = 6_000;

  private ws: WebSocketLike | undefined;
  private firstReady: { promise: Promise<ReadyEvent>; resolve: (r: ReadyEvent) => void; reject: (e: Error) => void };
  private readonly opts: Required<Omit<ConnectionOptions, "channels" | "webSocket" | "fetch">> & Pick<ConnectionOptions, "channels" | "webSocket" | "fetch">;
  private readonly backoff: Backoff;
  private readonly tokens: TokenKeeper;
  private readonly pacer: Pacer;
  private readonly outbox: Outbox;

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
    this.backoff = new Backoff(this.opts.backoff);
    this.tokens = new TokenKeeper(this.opts.token, this.opts.refreshBeforeMs, () => this.ws);
    this.pacer = new Pacer(this.opts.rate, { ws: () => this.ws, isOpen: () => this.state === "open" });
    this.outbox = new Outbox({
      canSend: () => this.state === "open" && !!this.ws,
      send: (raw) => this.pacer.push(raw),
      changed: (pending) => this.emit("outbox", { pending }),
    });
  }

  /** The token's `exp` (ms) as the server last said. */
  get expiresAt(): number | undefined {
    return this.tokens.expiresAt;
  }
  set expiresAt(ms: number | undefined) {
    this.tokens.expiresAt = ms;
  }

  /** Opens the connection; resolves with the first `ready` (later reconnects happen on their own). */
  connect(): Promise<ReadyEvent> {
    if (this.state === "idle") void this.open();
    return this.firstReady.promise;
  }

  /** Closes for good: pending sends fail with `closed`. */
  close(): void {
    if (this.state === "closed") return;
    this.backoff.cancel();
    this.tokens.stop();
    this.pacer.stop();
    const ws = this.ws;
    this.ws = undefined;
    this.setState("closed");
    ws?.close(CLOSE.normal);
    this.outbox.failAll("connection closed");
    this.firstReady.reject(new Error("connection closed"));
  }

  /** Drops the current socket and reconnects at once (e.g. the browser came back online). */
  reconnectNow(): void {
    if (this.state === "closed") return;
    if (this.state === "unauthorized") {
      this.tokens.discard(); // ask the provider again, e.g. after the user signed in again
      this.setState("reconnecting");
    }
    this.backoff.cancel();
    this.backoff.failures = 0;
    if (this.ws) this.ws.close(4000, "client reconnect");
    else void this.open();
  }

  /**
   * A resume point learned elsewhere (the newest seq of a history page loaded while connected):
   * only used for a channel the socket has not reported a seq for yet.
   */
  seedResumePoint(channelId: string, seq: number): void {
    this.resume.seed(channelId, seq);
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
    if (this.state !== "open" || !this.ws || !this.pacer.take()) return;
    this.ws.send(JSON.stringify({ op: "typing", channel_id: channelId, to }));
  }

  private enqueue<F extends ClientFrame & { client_msg_id: string }>(frame: F): Promise<Ack> {
    if (this.state === "closed") return Promise.reject(new SendError("closed", "connection closed", frame.client_msg_id));
    return this.outbox.add(frame);
  }

  // ---- connecting --------------------------------------------------------------------------------

  private setState(state: ConnectionState, code?: number, reason?: string): void {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this.emit("state", { state, previous, code, reason });
  }

  private url(token: string): string {
    const u = new URL("/v1/ws", this.opts.baseUrl.replace(/^http/, "ws"));
    u.searchParams.set("access_token", token);
    for (const ch of this.opts.channels ?? []) u.searchParams.append("channel_id", ch);
    this.resume.appendSince(u);
    return u.toString();
  }

  private async open(): Promise<void> {
    if (this.state === "closed" || this.state === "unauthorized") return;
    this.setState(this.state === "idle" ? "connecting" : "reconnecting");
    let token: string;
    try {
      token = await this.tokens.get("connect");
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
      this.tokens.socketGone();
      this.pacer.clear(); // resent from the outbox after the next ready
      if (this.state === "closed") return;
      this.setState("reconnecting", e.code, e.reason);
      void this.afterClose(e.code, ready, token);
    };
  }

  private async afterClose(code: number, wasReady: boolean, token: string): Promise<void> {
    // The token is spent (or was someone else's): never reuse it.
    if (code === CLOSE.tokenExpired || code === CLOSE.wrongUser) this.tokens.discard(token);
    if (!wasReady) {
      this.backoff.failures++;
      if ((await this.diagnose(token)) === "unauthorized") return;
      return this.scheduleReconnect();
    }
    this.backoff.failures = 0;
    this.scheduleReconnect(this.backoff.soon());
  }

  /** The upgrade failed before `ready`: a new token if REST refuses this one, and no `since` for teams left. */
  private async diagnose(token: string): Promise<"ok" | "unauthorized"> {
    const d = await diagnoseUpgrade(this.opts.fetch, this.opts.baseUrl, token, !this.opts.channels);
    if (d.kind === "ok" && d.activeTeams) this.resume.keepOnly(d.activeTeams);
    if (d.kind !== "unauthorized") return "ok"; // unreachable: back off and retry
    this.tokens.discard(token);
    let fresh: string;
    try {
      fresh = await this.tokens.get("rejected");
    } catch {
      return "ok";
    }
    if (fresh === token) {
      this.setState("unauthorized");
      this.firstReady.reject(new Error("token rejected"));
      return "unauthorized";
    }
    this.backoff.failures = 0;
    return "ok";
  }

  private scheduleReconnect(delay?: number): void {
    if (this.state === "closed" || this.state === "unauthorized") return;
    this.backoff.schedule(() => void this.open(), delay);
  }

  // ---- frames in -----------------------------------------------------------------------------------

  private handle(ws: WebSocketLike, f: ServerEvent): void {
    switch (f.event) {
      case "ready":
        return this.onReady(ws, f);
      case "ack":
        return this.onAck(f);
      case "error":
        this.outbox.refused(f);
        break;
      case "token_expiring":
        this.tokens.expiring(ws, f.expires_at);
        break;
      case "channel_left":
        this.resume.left(f.channel_id);
        break;
    }
    if (isChannelEvent(f)) {
      if (!this.resume.accept(f)) return; // already had it: a resume overlapping what we saw
      if (f.event === "member_joined" && f.user === this.user) this.channels.add(f.channel_id);
      // Our own echo does not settle a send: it can come before the message is durable (standalone
      // delivers a commit before its fsync); only the ack says so, or the resend's after a reconnect.
    }
    this.emit(f.event, f as never);
    this.emit("frame", f);
  }

  private onReady(ws: WebSocketLike, f: ReadyEvent): void {
    this.user = f.user;
    this.resume.reset(f.channels);
    if (f.typing_ttl_ms) this.typingTtlMs = f.typing_ttl_ms;
    this.tokens.ready(f.expires_at);
    this.backoff.failures = 0;
    this.setState("open");
    this.tokens.schedule(ws);
    this.emit("ready", f);
    this.emit("frame", f);
    this.firstReady.resolve(f);
    this.outbox.resend(this.opts.resendWindowMs);
  }

  private onAck(f: AckEvent): void {
    if (f.op === "refresh") this.tokens.refreshed(f.expires_at);
    else if (f.client_msg_id) this.outbox.ack(f as Ack);
    this.emit("ack", f);
    this.emit("frame", f);
  }
}
