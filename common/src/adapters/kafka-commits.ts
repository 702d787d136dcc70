/** One partition's offset to commit (Kafka's: the next record to consume). */
export interface PartitionOffset {
  partition: number;
  offset: string;
}

/**
 * A consumer's offset commits. A batch's offset becomes committable once its handler settled and
 * every earlier batch of its partition did (log order); what became committable is sent together,
 * every partition in one request, at most once per `intervalMs`, requests strictly one after the
 * other. Per-batch commits cost the broker a request each (≈ 100/s per controller at 1,000 msg/s);
 * committing later only means a crash redelivers a little more, which consumers already absorb.
 */
export class OffsetCommitter {
  /** Per partition, the chain of settling batches: their order is the log's. */
  private readonly order = new Map<number, Promise<void>>();
  private ready = new Map<number, string>();
  private generation = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private sending: Promise<void> = Promise.resolve();

  /** `commit` never rejects (it reports its own failures: a lost commit only means redelivery). */
  constructor(
    private readonly commit: (offsets: PartitionOffset[]) => Promise<void>,
    private readonly intervalMs: number,
  ) {}

  /** `offset` of `partition` is committed once `settled` and the earlier batches of the partition are; a rejection stops the later ones. */
  after(partition: number, offset: string, settled: Promise<void>): void {
    const generation = this.generation;
    const next = (this.order.get(partition) ?? Promise.resolve())
      .then(() => settled)
      .then(() => {
        if (generation !== this.generation) return;
        this.ready.set(partition, offset);
        this.timer ??= setTimeout(() => void this.send(), this.intervalMs);
      });
    next.catch(() => undefined);
    this.order.set(partition, next);
  }

  /** The consumer (re)joined its group: partitions may have changed hands, so nothing settled before is committed any more. */
  reset(): void {
    this.generation++;
    this.order.clear();
    this.ready.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Waits for the batches in hand to settle (or fail), then commits at once what settled. */
  async flush(): Promise<void> {
    await Promise.all([...this.order.values()].map((p) => p.catch(() => undefined)));
    await this.send();
  }

  private send(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.ready.size === 0) return this.sending;
    const offsets = [...this.ready].map(([partition, offset]) => ({ partition, offset }));
    this.ready = new Map();
    this.sending = this.sending.then(() => this.commit(offsets));
    return this.sending;
  }
}
