import { clientMsgKey, type ChatMessage } from "@chat/common/message";

/**
 * The client_msg_id keys this controller has seen, so that a message can be published before the
 * store has decided on it: a key it has never seen, while its memory is complete, is new, and the
 * store (first claim in log order wins) will keep the message. Anything else waits for the store.
 *
 * Complete means: every claim the store may still hold is here. After a (re)assignment the keys
 * claimed since the dedupe window began are loaded from the store; a partition's records before its
 * committed position are stored (offsets are committed after the store), and the records after it
 * come through here in order. Keys are kept `marginMs` longer than the store keeps its claims, so a
 * key forgotten here is forgotten there too.
 */
export class ClaimMemory {
  /** Key → when it was noted (ms); insertion order is roughly time order. */
  private readonly keys = new Map<string, number>();
  private loadedFor = -1;
  private loading: Promise<void> | undefined;
  private retryAt = 0;
  /** Not complete before this (ms): a load was cut short, or keys were evicted for room. */
  private incompleteUntil = Infinity;

  constructor(
    private readonly opts: {
      windowMs: number;
      marginMs: number;
      max: number;
      load: (since: Date, limit: number) => Promise<string[]>;
      onLoadFailed: (err: unknown) => void;
      now?: () => number;
    },
  ) {}

  get size(): number {
    return this.keys.size;
  }

  /** Whether the memory can vouch for new keys under `assignment`; starts loading if not yet. */
  ready(assignment: number): boolean {
    if (assignment !== this.loadedFor && !this.loading && this.now() >= this.retryAt) this.load(assignment);
    return assignment === this.loadedFor && this.now() >= this.incompleteUntil;
  }

  /** Notes the message's key; true if it is certainly the key's first message (publish it now). */
  fresh(m: Pick<ChatMessage, "channel_id" | "from" | "client_msg_id">, ready: boolean): boolean {
    if (m.client_msg_id === undefined) return true;
    const key = clientMsgKey(m.channel_id, m.from, m.client_msg_id);
    const seen = this.keys.has(key);
    this.note(key);
    return ready && !seen;
  }

  private note(key: string): void {
    const now = this.now();
    this.keys.delete(key);
    this.keys.set(key, now);
    const cutoff = now - this.opts.windowMs - this.opts.marginMs;
    for (const [k, at] of this.keys) {
      if (at >= cutoff && this.keys.size <= this.opts.max) break;
      this.keys.delete(k);
      // Evicted for room, not for age: the store may still hold it, so vouch for nothing for a window.
      if (at >= cutoff) this.incompleteUntil = Math.max(this.incompleteUntil, now + this.opts.windowMs + this.opts.marginMs);
    }
  }

  private load(assignment: number): void {
    const since = new Date(this.now() - this.opts.windowMs - this.opts.marginMs);
    this.loading = this.opts
      .load(since, this.opts.max)
      .then((keys) => {
        const now = this.now();
        for (const k of keys) if (!this.keys.has(k)) this.keys.set(k, now);
        this.loadedFor = assignment;
        this.incompleteUntil = keys.length >= this.opts.max ? now + this.opts.windowMs + this.opts.marginMs : now;
      })
      .catch((err: unknown) => {
        this.retryAt = this.now() + 1000; // meanwhile keyed messages wait for the store, as before
        this.opts.onLoadFailed(err);
      })
      .finally(() => (this.loading = undefined));
  }

  /** Resolves once a load in progress has finished (tests). */
  settled(): Promise<void> {
    return this.loading ?? Promise.resolve();
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }
}
