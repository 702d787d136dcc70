export interface AckInfo {
  id: string;
  seq: number;
  ts: string;
}

/**
 * The relay's fast path for client_msg_id idempotency: the first send of a key is remembered
 * (pending, then its ack) for the window; a resend within it gets the same ack instead of a second
 * message. Bounded by `maxEntries`: when keys still inside the window had to be evicted, `complete`
 * turns false until they would have expired, and a miss must be checked against the store.
 */
export class Dedupe {
  /** A failed send leaves `result` unset: its key stays suspect (the append may have been stored anyway). */
  private readonly entries = new Map<string, { at: number; result?: Promise<AckInfo> }>();
  /** A key evicted before its window ended could be resent until then. */
  private lossyUntil = Number.NEGATIVE_INFINITY;
  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 200_000,
  ) {}

  get(user: string, clientMsgId: string, now = Date.now()): Promise<AckInfo> | undefined {
    const key = `${user}\u0000${clientMsgId}`;
    const e = this.entries.get(key);
    if (!e?.result) return undefined;
    if (now - e.at > this.windowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e.result;
  }

  /** Whether an earlier send of this key failed within the window: it may still have been stored, so a resend must be checked. */
  suspect(user: string, clientMsgId: string, now = Date.now()): boolean {
    const e = this.entries.get(`${user}\u0000${clientMsgId}`);
    return e !== undefined && e.result === undefined && now - e.at <= this.windowMs;
  }

  /** Whether a miss means "not sent through this relay within the window" (nothing young was evicted). */
  complete(now = Date.now()): boolean {
    return now > this.lossyUntil;
  }

  /** Remembers `result`; if it fails, a retry can go through, but as a suspect (see `suspect`). */
  remember(user: string, clientMsgId: string, result: Promise<AckInfo>, now = Date.now()): void {
    const key = `${user}\u0000${clientMsgId}`;
    this.entries.set(key, { at: now, result });
    result.catch(() => {
      const e = this.entries.get(key);
      if (e?.result === result) e.result = undefined;
    });
    if (this.entries.size > this.maxEntries) this.evict(now);
  }

  private evict(now: number): void {
    for (const [k, e] of this.entries) {
      if (this.entries.size <= this.maxEntries * 0.9 && now - e.at <= this.windowMs) break;
      if (now - e.at <= this.windowMs) this.lossyUntil = Math.max(this.lossyUntil, e.at + this.windowMs);
      this.entries.delete(k);
    }
  }
}
