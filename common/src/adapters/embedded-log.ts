import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ConsumedRecord, ConsumeHandler, LogRecord, MessageLog } from "../ports";
import type { WriterReply, WriterRequest } from "./embedded-log-writer";

const COMMIT_EVERY_MS = 20;

interface Pending {
  records: LogRecord[];
  resolve: (seqs: number[]) => void;
  reject: (e: unknown) => void;
}

/**
 * The standalone stand-in for Kafka: one SQLite file, one partition. Appends made in the same tick
 * go to a writer thread in one message and are group-committed there in one transaction; the event
 * loop that serves sockets never waits for the disk. Consumers read through their own connection
 * (WAL: readers never block the writer) and wake on each commit instead of polling. A commit may be
 * consumed (delivered) as soon as it is written, like a Kafka record once the broker has it in its
 * page cache; an append resolves (is acked) only once its commit is fsync'd. A power loss can take
 * what was delivered but never acked; never a seq: the writer reserves them durably ahead of use.
 */
export class EmbeddedLog implements MessageLog {
  readonly groupsAppends = true;
  private readonly db: Database;
  private readonly writer: Worker;
  private pending: Pending[] = [];
  private flushScheduled = false;
  private readonly inFlight = new Map<number, Pending[]>();
  private nextId = 1;
  private waiters = new Set<() => void>();
  private closed = false;
  private commitsSinceTrim = 0;
  /** Positions committed through the writer, which writes them with its next transaction. */
  private readonly committed = new Map<string, number>();
  /** The highest seq consumers may read: written (and within the writer's reservation) or fsync'd. */
  private deliverable = 0;
  /** Why the log refuses appends for good (a failed fsync, a log that could not open); readiness reports it. */
  private failure: string | undefined;
  private readonly retain: number;
  /** The writer thread has exited (or failed): nothing it was sent will be answered. */
  private writerGone = false;

  /**
   * `retain`: entries kept behind the slowest consumer. `reserve`: how far ahead seqs are reserved
   * (the gap a crash can leave). `syncGate` (tests): fsyncs wait while its first element is 0; the second counts those that reached it.
   */
  constructor(dir: string, opts: { retain?: number; reserve?: number; syncGate?: Int32Array } = {}) {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, "log.db");
    this.db = new Database(path, { create: true, strict: true });
    this.db.run("PRAGMA journal_mode=WAL");
    this.db.run("PRAGMA busy_timeout=5000");
    this.db.run("CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY AUTOINCREMENT, channel_id TEXT NOT NULL, value TEXT NOT NULL)");
    this.db.run("CREATE TABLE IF NOT EXISTS offsets (grp TEXT PRIMARY KEY, seq INTEGER NOT NULL)");
    this.db.run("CREATE TABLE IF NOT EXISTS reserved (k INTEGER PRIMARY KEY CHECK (k = 0), seq INTEGER NOT NULL)");
    // Standalone used to consume as "controllers"; it now uses KAFKA_GROUP's default like every mode.
    this.db.run("UPDATE OR IGNORE offsets SET grp = 'chat-controllers' WHERE grp = 'controllers'");
    this.db.run("DELETE FROM offsets WHERE grp = 'controllers'");
    this.writer = new Worker(new URL("./embedded-log-writer.ts", import.meta.url).href);
    this.writer.unref();
    this.retain = opts.retain ?? 100_000;
    this.writer.postMessage({ type: "open", path, reserve: opts.reserve ?? 100_000, syncGate: opts.syncGate } satisfies WriterRequest);
    this.writer.onmessage = (e: MessageEvent<WriterReply>) => this.onReply(e.data);
    // A writer that died answers nothing: fail who waits and every later append, and say so in readiness.
    const died = (why: string) => {
      this.writerGone = true;
      this.onClosed?.(); // a close() waiting for the writer's answer
      if (this.closed) return;
      this.failure ??= `log writer ${why}`;
      for (const [, batch] of this.inFlight) for (const p of batch) p.reject(new Error(this.failure));
      this.inFlight.clear();
    };
    this.writer.addEventListener("error", (e) => died(`failed: ${(e as ErrorEvent).message}`));
    this.writer.addEventListener("close", () => died("exited"));
  }

  append(records: LogRecord[]): Promise<number[]> {
    if (this.closed) return Promise.reject(new Error("log closed"));
    if (this.failure) return Promise.reject(new Error(this.failure));
    if (records.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.pending.push({ records, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    if (this.failure) {
      // Accepted before the log broke (a writer that died answers nothing): failed, never posted.
      const err = new Error(this.failure);
      for (const p of batch) p.reject(err);
      return;
    }
    const id = this.nextId++;
    this.inFlight.set(id, batch);
    this.writer.postMessage({ type: "append", id, records: batch.map((p) => p.records.map((r) => [r.channelId, r.value])) } satisfies WriterRequest);
  }

  private onReply(m: WriterReply): void {
    if (m.type === "closed") return this.onClosed?.();
    if (m.type === "opened" || m.type === "written") {
      if (m.type === "opened" && m.error) this.failure = m.error;
      return this.readable(m.last);
    }
    const batch = this.inFlight.get(m.id);
    this.inFlight.delete(m.id);
    if (m.type === "failed") {
      if (m.broken) this.failure ??= m.error;
      const err = new Error(`log append failed: ${m.error}`);
      for (const p of batch ?? []) p.reject(err);
      return;
    }
    batch?.forEach((p, i) => p.resolve(m.seqs[i]!));
    this.readable(m.last);
  }

  /** Consumers may read up to `last`: wakes them if that is further than before. */
  private readable(last: number): void {
    if (last <= this.deliverable) return;
    this.deliverable = last;
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const w of waiters) w();
  }
  private onClosed: (() => void) | undefined;

  async consume(opts: { group: string; signal: AbortSignal; handle: ConsumeHandler }): Promise<void> {
    const read = this.db.query<{ seq: number; channel_id: string; value: string }, [number, number]>(
      "SELECT seq, channel_id, value FROM log WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT 1000",
    );
    const newest = this.db.query<{ m: number | null }, []>("SELECT MAX(seq) AS m FROM log");
    const stored = this.db.query<{ seq: number }, [string]>("SELECT seq FROM offsets WHERE grp = ?").get(opts.group)?.seq ?? 0;
    let position = Math.max(stored, this.committed.get(opts.group) ?? 0);
    // Commits in log order, each once its batch is settled; a batch that never settles stops the later ones.
    let commits: Promise<void> = Promise.resolve();
    // Positions go to the writer at most every COMMIT_EVERY_MS (a message to a worker is not free);
    // a crash loses at most that much position, i.e. those batches are consumed again.
    let latest = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const post = () => {
      timer = undefined;
      if (this.closed || latest === 0) return;
      const seq = latest;
      latest = 0;
      const trim = ++this.commitsSinceTrim >= 100 ? this.trimBelow(opts.group, seq) : undefined;
      this.writer.postMessage({ type: "commit", group: opts.group, seq, trimBelow: trim } satisfies WriterRequest);
    };
    const commit = (seq: number) => {
      if (this.closed) return;
      this.committed.set(opts.group, seq);
      latest = seq;
      timer ??= setTimeout(post, COMMIT_EVERY_MS);
    };
    try {
      while (!opts.signal.aborted && !this.closed) {
        const rows = read.all(position, this.deliverable);
        if (rows.length === 0) {
          await new Promise<void>((resolve) => {
            const wake = () => {
              opts.signal.removeEventListener("abort", wake);
              this.waiters.delete(wake);
              resolve();
            };
            this.waiters.add(wake);
            opts.signal.addEventListener("abort", wake, { once: true });
          });
          continue;
        }
        const last = rows[rows.length - 1]!.seq;
        const accepted = await opts.handle(
          rows.map((r) => ({ seq: r.seq, channelId: r.channel_id, value: r.value })),
          { partition: "0", lag: (newest.get()?.m ?? last) - last, assignment: 0 },
        );
        position = last;
        if (this.closed) break;
        commits = accepted ? commits.then(() => accepted.settled).then(() => commit(last)) : commits.then(() => commit(last));
        commits.catch(() => undefined); // observed below; a rejection only stops later commits
      }
    } finally {
      await commits.catch(() => undefined);
      clearTimeout(timer);
      post();
    }
  }

  /** Keeps `retain` entries behind the slowest consumer; older ones live in the message store. */
  private trimBelow(group: string, committing: number): number | undefined {
    this.commitsSinceTrim = 0;
    const others = this.db.query<{ m: number | null }, [string]>("SELECT MIN(seq) AS m FROM offsets WHERE grp != ?").get(group)?.m;
    const min = Math.min(committing, others ?? committing);
    return min - this.retain > 0 ? min - this.retain + 1 : undefined;
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error("log closed");
    if (this.failure) throw new Error(this.failure);
    this.db.query("SELECT 1").get();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    for (const w of this.waiters) w();
    // Everything posted so far is committed (or failed) before the writer closes: requests run in order.
    if (!this.writerGone) {
      await new Promise<void>((resolve) => {
        this.onClosed = resolve;
        this.writer.postMessage({ type: "close" } satisfies WriterRequest);
      });
    }
    for (const [, batch] of this.inFlight) for (const p of batch) p.reject(new Error("log closed"));
    this.inFlight.clear();
    this.writer.terminate();
    this.db.close();
  }
}
