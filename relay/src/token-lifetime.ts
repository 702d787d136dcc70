import type { Verifier } from "@chat/common/auth";
import { AppError } from "@chat/common/errors";
import { errorFrame, refreshAckFrame, tokenExpiringFrame } from "./frames";
import type { SocketRegistry } from "./registry";
import type { WS } from "./socket";
import { ExpiryWheel } from "@chat/common/http/timers";

export const CLOSE_TOKEN_EXPIRED = 4001;
export const CLOSE_TOKEN_FORBIDDEN = 4003;

/**
 * A socket lives no longer than its token (PROTOCOL §11): `token_expiring` 60 s before `exp`
 * (at once if less remains), close 4001 at `exp`, and `{"op":"refresh"}` with a token of the same
 * user extends it. One expiry wheel serves every socket, so a tick costs the sockets due in it.
 */
export class TokenLifetime {
  private readonly wheel: ExpiryWheel<WS>;

  constructor(
    private readonly sockets: SocketRegistry,
    private readonly verify: Verifier,
    private readonly warnMs = 60_000,
    tickMs = 250,
    private readonly now: () => number = Date.now,
    autoStart = true,
  ) {
    this.wheel = new ExpiryWheel<WS>(tickMs, (ws) => this.due(ws), { now, autoStart });
  }

  stop(): void {
    this.wheel.stop();
  }

  /** Starts watching a socket that has just been sent `ready`. */
  track(ws: WS): void {
    this.due(ws);
  }

  untrack(ws: WS): void {
    this.wheel.cancel(ws);
  }

  /** Fires what is due by `at` (the wheel's own timer does this; tests drive it by hand). */
  tick(at: number): void {
    this.wheel.tick(at);
  }

  /** `{"op":"refresh","token"}`: a valid token of the same user moves the deadline; another user's closes the socket (4003). */
  async refresh(ws: WS, frame: Record<string, unknown>, clientMsgId: string | undefined): Promise<void> {
    if (typeof frame.token !== "string") throw new AppError("invalid_message", "refresh needs a token");
    let principal;
    try {
      principal = await this.verify(frame.token);
    } catch (err) {
      throw new AppError("forbidden", err instanceof AppError ? err.message : "invalid token");
    }
    if (ws.data.closed) return;
    if (principal.user !== ws.data.user) {
      this.sockets.send(ws, errorFrame("forbidden", "token is for another user", clientMsgId));
      ws.data.closed = true;
      ws.close(CLOSE_TOKEN_FORBIDDEN, "token for another user");
      return;
    }
    ws.data.expiresAt = principal.expiresAt;
    ws.data.warned = false;
    this.sockets.send(ws, refreshAckFrame(principal.expiresAt, clientMsgId));
    this.due(ws);
  }

  private due(ws: WS): void {
    if (ws.data.closed) return;
    const { expiresAt } = ws.data;
    const now = this.now();
    if (now >= expiresAt) {
      ws.data.closed = true;
      ws.close(CLOSE_TOKEN_EXPIRED, "token expired");
      return;
    }
    if (!ws.data.warned && now >= expiresAt - this.warnMs) {
      ws.data.warned = true;
      this.sockets.send(ws, tokenExpiringFrame(expiresAt));
    }
    this.wheel.schedule(ws, ws.data.warned ? expiresAt : expiresAt - this.warnMs);
  }
}
