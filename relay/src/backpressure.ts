import { AppError } from "@chat/common/errors";

interface Pending {
  ch: string;
  seq: number;
  at: number;
  /** The channel's interest generation when acked: a channel dropped since no longer counts. */
  gen: number;
}

/**
 * Back-pressure from the consumers (PROTOCOL §3: never ack into an unbounded backlog): every message
 * this relay acks must come back on a controller stream; while the oldest one that has not is older
 * than `maxLagMs`, new sends are answered `unavailable` instead of acked. The check costs O(1)
 * amortised (a FIFO of acked appends, trimmed from its head as deliveries pass them); an append that
 * never comes back (a resend the controller dropped as a duplicate) stops counting after 2 × maxLagMs.
 */
export class DeliveryLag {
  private readonly fifo: Pending[] = [];
  private head = 0;
  private readonly gens = new Map<string, number>();

  constructor(
    private readonly maxLagMs: number,
    /** Whether `seq` of `ch` came back (or no socket here waits for the channel any more). */
    private readonly settled: (ch: string, seq: number) => boolean,
  ) {}

  /** An append of `ch` acked at `seq`. */
  acked(ch: string, seq: number, now = performance.now()): void {
    if (this.maxLagMs > 0) this.fifo.push({ ch, seq, at: now, gen: this.gens.get(ch) ?? 0 });
  }

  /** No socket here waits for `ch` any more: what it acked there stops counting (it may never come back). */
  forget(ch: string): void {
    if (this.maxLagMs > 0) this.gens.set(ch, (this.gens.get(ch) ?? 0) + 1);
  }

  /** Throws `unavailable` while the consumers are further behind than allowed. */
  admit(now = performance.now()): void {
    if (this.maxLagMs <= 0) return;
    while (this.head < this.fifo.length) {
      const p = this.fifo[this.head]!;
      if (p.gen === (this.gens.get(p.ch) ?? 0) && !this.settled(p.ch, p.seq) && now - p.at < 2 * this.maxLagMs) break;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.fifo.length) {
      this.fifo.splice(0, this.head);
      this.head = 0;
    }
    const oldest = this.fifo[this.head];
    if (oldest && now - oldest.at > this.maxLagMs) throw new AppError("unavailable", "delivery is behind; retry later");
  }
}
