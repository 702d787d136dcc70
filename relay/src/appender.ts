import { AppError } from "@chat/common/errors";
import type { LogRecord, MessageLog } from "@chat/common/ports";

/** Requests a grouping log may have outstanding at once (each is a few messages gathered in one tick). */
const MAX_IN_FLIGHT = 64;

interface Waiting {
  record: LogRecord;
  resolve: (seq: number) => void;
  reject: (e: unknown) => void;
}

/**
 * Batches appends from every socket into one log request at a time: under load the
 * batch grows, at rest a message goes out at once. A log that groups appends itself
 * (`groupsAppends`) gets each batch at once instead, up to MAX_IN_FLIGHT requests, so a
 * message never waits for the previous commit's answer to travel back. With a log's
 * `appendIntervalMs` (Kafka), what gathered while a request was out waits until that long after
 * the request started (under load each request carries more messages), while a message reaching
 * an idle appender goes at once. The queue is bounded; past it the relay answers `unavailable`
 * instead of buffering without limit.
 */
export class Appender {
  private queue: Waiting[] = [];
  /** Requests sent and not yet answered. */
  private inFlight = 0;
  private readonly maxInFlight: number;
  private idle: (() => void)[] = [];
  private readonly minIntervalMs: number;
  /** When the last request started (performance.now), and the timer of the next while it must wait. */
  private lastStart = -Infinity;
  private paced: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly log: MessageLog,
    private readonly maxPending: number,
    private readonly maxBatch = 2000,
    /** Under the log's request limit (Kafka topics we create accept 16 MiB). */
    private readonly maxBatchBytes = 4 * 1024 * 1024,
  ) {
    this.maxInFlight = log.groupsAppends ? MAX_IN_FLIGHT : 1;
    this.minIntervalMs = log.groupsAppends ? 0 : (log.appendIntervalMs ?? 0);
  }

  get pending(): number {
    return this.queue.length;
  }

  append(record: LogRecord): Promise<number> {
    if (this.queue.length >= this.maxPending) return Promise.reject(new AppError("unavailable", "server busy, retry later"));
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (this.queue.length === 1 && this.inFlight < this.maxInFlight) queueMicrotask(() => this.pump(false));
    });
  }

  /** `backlog`: called as a request was answered, with what gathered meanwhile (the log is busy). */
  private pump(backlog = true): void {
    if (this.inFlight >= this.maxInFlight) return;
    if (this.queue.length === 0) {
      if (this.inFlight === 0) for (const w of this.idle.splice(0)) w();
      return;
    }
    if (this.minIntervalMs > 0) {
      if (this.paced) return;
      // Only a backlog waits: a message reaching an idle appender goes at once, whatever the interval.
      const wait = backlog ? this.lastStart + this.minIntervalMs - performance.now() : 0;
      if (wait > 0) {
        this.paced = setTimeout(() => {
          this.paced = undefined;
          this.pump();
        }, wait);
        return;
      }
      this.lastStart = performance.now();
    }
    let n = 0;
    for (let bytes = 0; n < this.queue.length && n < this.maxBatch; n++) {
      bytes += this.queue[n]!.record.value.length;
      if (bytes > this.maxBatchBytes && n > 0) break;
    }
    const batch = n === this.queue.length ? this.queue : this.queue.slice(0, n);
    this.queue = batch === this.queue ? [] : this.queue.slice(n);
    this.inFlight++;
    this.log
      .append(batch.map((w) => w.record))
      .then(
        (seqs) => batch.forEach((w, i) => w.resolve(seqs[i]!)),
        () => {
          const err = new AppError("unavailable", "message log unavailable, retry later");
          for (const w of batch) w.reject(err);
        },
      )
      .finally(() => {
        this.inFlight--;
        this.pump();
      });
  }

  /** Waits until everything accepted so far is durable or failed. */
  drain(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}
