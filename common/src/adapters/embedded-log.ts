import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ConsumedRecord, ConsumePosition, LogRecord, MessageLog } from "../ports";

interface Pending {
  records: LogRecord[];
  resolve: (seqs: number[]) => void;
  reject: (e: unknown) => void;
}

/**
 * The standalone stand-in for Kafka: one SQLite file, one partition. Appends made in
 * the same tick are group-committed in one transaction (fsync'd: synchronous=FULL),
 * and consumers wake on append instead of polling.
 */
export class EmbeddedLog implements MessageLog {
  private readonly db: Database;
  private pending: Pending[] = [];
  private flushScheduled = false;
  private waiters = new Set<() => void>();
  private closed = false;
  private commitsSinceTrim = 0;
  private readonly appendTx: (batches: Pending[]) => number[][];

  constructor(
    dir: string,
    private readonly opts: { retain: number } = { retain: 100_000 },
  ) {
    mkdirSync(dir, { recursive: true });
    this.db = new Database(join(dir, "log.db"), { create: true, strict: true });
    this.db.run("PRAGMA journal_mode=WAL");
    this.db.run("PRAGMA synchronous=FULL");
    this.db.run("CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY AUTOINCREMENT, channel_id TEXT NOT NULL, value TEXT NOT NULL)");
    this.db.run("CREATE TABLE IF NOT EXISTS offsets (grp TEXT PRIMARY KEY, seq INTEGER NOT NULL)");
    // Standalone used to consume as "controllers"; it now uses KAFKA_GROUP's default like every mode.
    this.db.run("UPDATE OR IGNORE offsets SET grp = 'chat-controllers' WHERE grp = 'controllers'");
    this.db.run("DELETE FROM offsets WHERE grp = 'controllers'");
    const insert = this.db.query<{ seq: number }, [string, string]>("INSERT INTO log (channel_id, value) VALUES (?, ?) RETURNING seq");
    this.appendTx = this.db.transaction((batches: Pending[]) => batches.map((p) => p.records.map((r) => insert.get(r.channelId, r.value)!.seq)));
  }


  append(records: LogRecord[]): Promise<number[]> {
    if (this.closed) return Promise.reject(new Error("log closed"));
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
    const batch = this.pending;
    this.pending = [];
    try {
      const seqs = this.appendTx(batch);
      batch.forEach((p, i) => p.resolve(seqs[i]!));
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const w of waiters) w();
  }

  async consume(opts: { group: string; signal: AbortSignal; handle: (batch: ConsumedRecord[], position: ConsumePosition) => Promise<void> }): Promise<void> {
    const read = this.db.query<{ seq: number; channel_id: string; value: string }, [number]>("SELECT seq, channel_id, value FROM log WHERE seq > ? ORDER BY seq LIMIT 1000");
    const commit = this.db.query("INSERT INTO offsets (grp, seq) VALUES (?, ?) ON CONFLICT(grp) DO UPDATE SET seq = excluded.seq");
    const newest = this.db.query<{ m: number | null }, []>("SELECT MAX(seq) AS m FROM log");
    let position = this.db.query<{ seq: number }, [string]>("SELECT seq FROM offsets WHERE grp = ?").get(opts.group)?.seq ?? 0;
    while (!opts.signal.aborted && !this.closed) {
      const rows = read.all(position);
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
      await opts.handle(
        rows.map((r) => ({ seq: r.seq, channelId: r.channel_id, value: r.value })),
        { partition: "0", lag: (newest.get()?.m ?? last) - last },
      );
      position = last;
      commit.run(opts.group, position);
      if (++this.commitsSinceTrim >= 100) this.trim();
    }
  }

  /** Keeps `retain` entries behind the slowest consumer; older ones live in the message store. */
  private trim(): void {
    this.commitsSinceTrim = 0;
    const min = this.db.query<{ m: number | null }, []>("SELECT MIN(seq) AS m FROM offsets").get()?.m;
    if (min) this.db.query("DELETE FROM log WHERE seq <= ?").run(min - this.opts.retain);
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error("log closed");
    this.db.query("SELECT 1").get();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.pending.length) this.flush();
    this.closed = true;
    for (const w of this.waiters) w();
    this.db.close();
  }
}
