import type { Verifier } from "@chat/common/auth";
import { AppError } from "@chat/common/errors";
import { errorFrame, refreshAckFrame, tokenExpiringFrame } from "./frames";
import type { SocketRegistry } from "./registry";
import type { WS } from "./socket";

export const CLOSE_TOKEN_EXPIRED = 4001;
export const CLOSE_TOKEN_FORBIDDEN = 4003;

/**
 * A socket lives no longer than its token (PROTOCOL §11): `token_expiring` 60 s before `exp`
 * (at once if less remains), close 4001 at `exp`, and `{"op":"refresh"}` with a token of the same
 * user extends it. One timer serves every socket: sockets wait in per-tick buckets of their next
 * deadline, so a tick costs the sockets due in it, never a walk over all of them.
 */
export class TokenLifetime {
  private readonly buckets = new Map<number, Set<WS>>();
  private lastTick: number;
  private timer: Timer | undefined;

  constructor(
    private readonly sockets: SocketRegistry,
    private readonly verify: Verifier,
    private readonly warnMs = 60_000,
    private readonly tickMs = 250,
    now = Date.now(),
  ) {
    this.lastTick = Math.floor(now / tickMs);
  }

  start(): void {
    this.timer = setInterval(() => this.tick(Date.now()), this.tickMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Starts watching a socket that has just been sent `ready`. */
  track(ws: WS, now = Date.now()): void {
    this.due(ws, now);
  }

  untrack(ws: WS): void {
    const slot = ws.data.expirySlot;
    if (slot === undefined) return;
    const b = this.buckets.get(slot);
    b?.delete(ws);
    if (b?.size === 0) this.buckets.delete(slot);
    ws.data.expirySlot = undefined;
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
    this.untrack(ws);
    ws.data.expiresAt = principal.expiresAt;
    ws.data.warned = false;
    this.sockets.send(ws, refreshAckFrame(principal.expiresAt, clientMsgId));
    this.track(ws);
  }

  /** Every bucket whose tick has passed, oldest first. */
  tick(now: number): void {
    const current = Math.floor(now / this.tickMs);
    for (let t = this.lastTick + 1; t <= current; t++) {
      const due = this.buckets.get(t);
      if (!due) continue;
      this.buckets.delete(t);
      for (const ws of due) {
        ws.data.expirySlot = undefined;
        this.due(ws, now);
      }
    }
    this.lastTick = current;
  }

  private due(ws: WS, now: number): void {
    if (ws.data.closed) return;
    const { expiresAt } = ws.data;
    if (now >= expiresAt) {
      ws.data.closed = true;
      ws.close(CLOSE_TOKEN_EXPIRED, "token expired");
      return;
    }
    if (!ws.data.warned && now >= expiresAt - this.warnMs) {
      ws.data.warned = true;
      this.sockets.send(ws, tokenExpiringFrame(expiresAt));
    }
    this.schedule(ws, ws.data.warned ? expiresAt : expiresAt - this.warnMs);
  }

  private schedule(ws: WS, at: number): void {
    // Never into a tick already processed: the next one then.
    const slot = Math.max(Math.ceil(at / this.tickMs), this.lastTick + 1);
    let b = this.buckets.get(slot);
    if (!b) this.buckets.set(slot, (b = new Set()));
    b.add(ws);
    ws.data.expirySlot = slot;
  }
}
