import { newClientMsgId, tokenExpiry } from "../ids";
import { OPEN, type ConnectionTokenProvider, type WebSocketLike } from "./types";

const CONNECT_MARGIN_MS = 5_000;

/**
 * The token's lifetime (§11): one provider call at a time, a cached token reused until it is about
 * to expire, and `{"op":"refresh"}` on the open socket shortly before `exp`.
 */
export class TokenKeeper {
  /** The token's `exp` (ms) as the server last said. */
  expiresAt: number | undefined;
  private token: string | undefined;
  private pending: Promise<string> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: WebSocketLike | undefined;

  constructor(
    private readonly provider: ConnectionTokenProvider,
    private readonly refreshBeforeMs: number,
    /** The socket that is current now; a refresh for any other is dropped. */
    private readonly current: () => WebSocketLike | undefined,
  ) {}

  /** The token for the next connect: the cached one unless it is about to expire, else a new one. */
  get(reason: "connect" | "refresh" | "rejected"): Promise<string> {
    // A refresh in flight wins over the cached token: a reconnect racing it waits for the new one.
    if (this.pending) return this.pending;
    if (reason === "connect" && this.token) {
      const exp = tokenExpiry(this.token) ?? this.expiresAt;
      if (exp === undefined || exp - Date.now() > CONNECT_MARGIN_MS) return Promise.resolve(this.token);
      reason = "refresh";
    }
    // One provider call at a time.
    const p = (this.pending = Promise.resolve()
      .then(() => this.provider(reason))
      .then(
        (t) => {
          this.token = t;
          this.pending = undefined;
          return t;
        },
        (err) => {
          this.pending = undefined;
          throw err;
        },
      ));
    return p;
  }

  /** Never reuse `token` (spent, refused, or someone else's); without one, whatever is cached. */
  discard(token?: string): void {
    if (token === undefined || this.token === token) this.token = undefined;
  }

  /** `ready` says when the token expires; without that, the token's own `exp`. */
  ready(expiresAt: string | undefined): void {
    this.expiresAt = expiresAt ? Date.parse(expiresAt) : (this.token && tokenExpiry(this.token)) || undefined;
  }

  /** The server warned that `exp` is near: refresh now. */
  expiring(ws: WebSocketLike, expiresAt: string): void {
    this.expiresAt = Date.parse(expiresAt) || this.expiresAt;
    void this.refresh(ws);
  }

  refreshed(expiresAt: string | undefined): void {
    if (expiresAt) this.expiresAt = Date.parse(expiresAt);
    this.refreshing = undefined;
    const ws = this.current();
    if (ws) this.schedule(ws);
  }

  /** The socket went (or the connection closed): its refresh is moot. */
  socketGone(): void {
    this.refreshing = undefined;
    clearTimeout(this.timer);
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  schedule(ws: WebSocketLike): void {
    clearTimeout(this.timer);
    if (this.expiresAt === undefined) return;
    // A little earlier than the server's warning, with jitter so many clients do not refresh at once.
    const at = this.expiresAt - this.refreshBeforeMs - Math.random() * 5_000;
    this.timer = setTimeout(() => void this.refresh(ws), Math.max(0, Math.min(at - Date.now(), 2 ** 31 - 1)));
  }

  private async refresh(ws: WebSocketLike): Promise<void> {
    if (this.refreshing === ws) return;
    this.refreshing = ws;
    const old = this.token;
    let token: string;
    try {
      token = await this.get("refresh");
    } catch {
      this.refreshing = undefined;
      return;
    }
    // The socket may have gone meanwhile: the next connect uses the new token anyway.
    if (this.current() !== ws || ws.readyState !== OPEN) return;
    if (token === old) {
      this.refreshing = undefined; // nothing new: the server closes with 4001 at exp and we reconnect
      return;
    }
    ws.send(JSON.stringify({ op: "refresh", token, client_msg_id: newClientMsgId("t") }));
  }
}
