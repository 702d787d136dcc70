import { OPEN, type WebSocketLike } from "./types";

/**
 * Frames leave no faster than the server's bucket refills (a token bucket mirroring its limit);
 * the rest wait here, in order, and are dropped with the socket (the outbox resends them).
 */
export class Pacer {
  private readonly queue: string[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly bucket: { tokens: number; at: number };

  constructor(
    private readonly rate: { perSec: number; burst: number },
    private readonly host: { ws(): WebSocketLike | undefined; isOpen(): boolean },
  ) {
    this.bucket = { tokens: rate.burst, at: Date.now() };
  }

  push(raw: string): void {
    this.queue.push(raw);
    this.drain();
  }

  /** Takes one token if there is one (an ephemeral frame that is never queued asks this way). */
  take(): boolean {
    const now = Date.now();
    const { perSec, burst } = this.rate;
    this.bucket.tokens = Math.min(burst, this.bucket.tokens + ((now - this.bucket.at) / 1000) * perSec);
    this.bucket.at = now;
    if (this.bucket.tokens < 1) return false;
    this.bucket.tokens--;
    return true;
  }

  clear(): void {
    this.queue.length = 0;
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private drain(): void {
    clearTimeout(this.timer);
    let ws: WebSocketLike | undefined;
    while (this.queue.length && (ws = this.host.ws()) && ws.readyState === OPEN && this.take()) ws.send(this.queue.shift()!);
    if (!this.host.ws() || !this.host.isOpen()) this.queue.length = 0;
    else if (this.queue.length) this.timer = setTimeout(() => this.drain(), 1000 / this.rate.perSec);
  }
}
