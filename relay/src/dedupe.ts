import { EvictedKeys } from "./evicted-keys";

export interface AckInfo {
  id: string;
  seq: number;
  ts: string;
}

/** Generations of forgotten keys kept at most (each 2 bytes per key of its capacity, `maxEntries / 2` up to 500,000): see `EvictedKeys`. */
const MAX_GENERATIONS = 64;

/**
 * The relay's fast path for client_msg_id idempotency: the first send of a key is remembered
 * (pending, then its ack) for the window; a resend within it gets the same ack instead of a second
 * message. Bounded by `maxEntries`: keys evicted while still inside the window go into Bloom filters
 * (evicted-keys.ts), and a miss on one of those (or a false positive: ~0.05 % per live generation of
 * `maxEntries / 2` keys) is checked against the store. Before them, a relay with more keys in its
 * window than `maxEntries` (667 keyed messages/s over the default 5 minutes) checked every miss
 * against the store once one young key was evicted: the closed-loop bench fell from 28–31k to 8–9k
 * messages/s (bench/README.md, "The dedupe cliff").
 */
export class Dedupe {
  /** A failed send leaves `result` unset: its key stays suspect (the append may have been stored anyway). */
  private readonly entries = new Map<string, { at: number; result?: Promise<AckInfo> }>();
  /** Keys evicted before their window ended (they could be resent until then). */
  private readonly evicted: EvictedKeys;
  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 200_000,
    maxGenerations = MAX_GENERATIONS,
  ) {
    // Generations of half the map's size, 1 MB at most (500,000 keys): 64 of them bound the filters' memory to 64 MB.
    this.evicted = new EvictedKeys(Math.min(500_000, Math.max(1000, Math.ceil(maxEntries / 2))), maxGenerations);
  }

  get(user: string, clientMsgId: string, now = Date.now()): Promise<AckInfo> | undefined {
    const key = keyOf(user, clientMsgId);
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
    const e = this.entries.get(keyOf(user, clientMsgId));
    return e !== undefined && e.result === undefined && now - e.at <= this.windowMs;
  }

  /** Whether a miss on this key may be a key this relay forgot within the window (false: it was not sent through this relay within it). */
  mayHaveForgotten(user: string, clientMsgId: string, now = Date.now()): boolean {
    return this.evicted.mayHave(keyOf(user, clientMsgId), now);
  }

  /** Remembers `result`; if it fails, a retry can go through, but as a suspect (see `suspect`). */
  remember(user: string, clientMsgId: string, result: Promise<AckInfo>, now = Date.now()): void {
    const key = keyOf(user, clientMsgId);
    // Re-inserted, not updated in place: the map's order stays the order of age, which eviction relies on.
    this.entries.delete(key);
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
      if (now - e.at <= this.windowMs) this.evicted.add(k, e.at + this.windowMs, now);
      this.entries.delete(k);
    }
  }
}

/** A key of the map and the filters: per user, as client_msg_ids are. */
function keyOf(user: string, clientMsgId: string): string {
  return `${user}\u0000${clientMsgId}`;
}
