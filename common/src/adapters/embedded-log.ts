import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ConsumeHandler, LogRecord, MessageLog } from "../ports";
import { dropAutoincrement } from "./embedded-log-upgrade";
import { RecordTail } from "./record-tail";
import { startCheckpointer, type Checkpointer } from "./sqlite-checkpointer";

/** Consumer positions are written this long after they move (in a transaction of their own); trimming goes on a page per turn. */
const POSITIONS_EVERY_MS = 50;
/** Records kept in memory as committed (the newest, up to this many and bytes), so that consumers keeping up never read them back. */
const TAIL = 4096;
const TAIL_BYTES = 8 * 1024 * 1024;
/** Records handed to a consumer at most at once. */
const BATCH = 1000;
/** Log rows deleted per transaction when trimming (~0.15 ms): the event loop never waits for a large delete. */
const TRIM_PAGE = 250;

interface Pending {
  records: LogRecord[];
  resolve: (seqs: number[]) => void;
  reject: (e: unknown) => void;
}

/**
 * The standalone stand-in for Kafka: one SQLite file, one partition. Appends made in the same tick
 * are group-committed in one transaction, on the event loop, to the WAL without a sync
 * (synchronous=NORMAL: it survives a killed process; tens of microseconds). Consumers on this
 * thread are woken at once and may deliver it, like a Kafka record once the broker has it in its
 * page cache. A thread of its own (sqlite-checkpointer.ts) then fdatasyncs the WAL — the event loop
 * never waits for the disk — and only then do the appends resolve (are acked). A power loss can
 * take what was delivered but never acked; never a seq: they are reserved durably ahead of use.
 * One class (~320 lines) because its parts share one connection and one set of bounds (seqs, the
 * reservation, positions); the in-memory tail is record-tail.ts, the sync thread sqlite-checkpointer.ts,
 * the one-time upgrade of an older log embedded-log-upgrade.ts.
 */
export class EmbeddedLog implements MessageLog {
  readonly groupsAppends = true;
  private readonly db: Database;
  /** Syncs the WAL and checkpoints it, off the event loop. */
  private readonly syncer: Checkpointer;
  private readonly appendTx: (batches: LogRecord[][]) => number[][];
  /** Writes the consumers' positions and one page of the trim; true while more is left to trim. */
  private readonly positionsTx: (positions: [string, number][]) => boolean;
  private readonly closeTx: () => void;
  private pending: Pending[] = [];
  private flushScheduled = false;
  private waiters = new Set<() => void>();
  private closed = false;
  private commitsSinceTrim = 0;
  /** Positions committed by consumers (what a consumer starting again resumes from). */
  private readonly committed = new Map<string, number>();
  /** Positions not yet written (a lost one only means a batch is consumed again). */
  private readonly positions = new Map<string, number>();
  private positionsTimer: ReturnType<typeof setTimeout> | undefined;
  /** Log rows below this are deleted, TRIM_PAGE per transaction, until none is left. */
  private trimTarget: number | undefined;
  /** The highest seq committed (written to the WAL, perhaps not yet fsync'd). */
  private top = 0;
  /** The last seq handed out: committed (≥ top), or at start the bound a crash may have used up to. */
  private assigned = 0;
  private readonly tail = new RecordTail(TAIL, TAIL_BYTES);
  /** The highest seq consumers may read: committed (and within the reservation) or fsync'd. */
  private deliverable = 0;
  /**
   * Seqs up to `reserved` may be delivered before they are durable: it is the bound on disk. The
   * commit that crosses it writes a new one (`reserve` further, `reserving`), and nothing above the
   * old bound is delivered until that commit is fsync'd (later commits included). After a power loss
   * the log starts again above the bound, so a seq delivered and then lost is never given to another
   * message. A clean close lowers it to the last seq (all durable then), so restarts leave no gap; a
   * crash leaves one of up to `reserve`.
   */
  private reserved = 0;
  /** The bound as last written, perhaps not yet fsync'd (≥ `reserved`). */
  private reserving = 0;
  private readonly reserve: number;
  /** Why the log refuses appends for good (a failed fsync, a dead sync thread); readiness reports it. */
  private failure: string | undefined;
  private readonly retain: number;

  /**
   * `retain`: entries kept behind the slowest consumer. `reserve`: how far ahead seqs are reserved
   * (the gap a crash can leave). `syncGate` (tests): fsyncs wait while its first element is 0; the second counts those that reached it.
   */
  constructor(dir: string, opts: { retain?: number; reserve?: number; syncGate?: Int32Array } = {}) {
    const reserve = opts.reserve ?? 100_000;
    if (!Number.isSafeInteger(reserve) || reserve < 1) throw new Error(`reserve must be a positive integer, not ${reserve}`);
    this.reserve = reserve;
    this.retain = opts.retain ?? 100_000;
    mkdirSync(dir, { recursive: true });
    const path = join(dir, "log.db");
    const db = (this.db = new Database(path, { create: true, strict: true }));
    db.run("PRAGMA journal_mode=WAL");
    db.run("PRAGMA synchronous=NORMAL"); // the sync thread makes commits durable, after they are delivered
    db.run("PRAGMA busy_timeout=5000");
    // Checkpoints (the only fsyncs SQLite does at synchronous=NORMAL) run on the sync thread, never inside a commit here.
    db.run("PRAGMA wal_autocheckpoint=0");
    // Seqs are assigned here, not by AUTOINCREMENT: its counter row is one more page written per
    // commit (and RETURNING a slower statement), half the cost of a commit. The `reserved` bound keeps
    // seqs from being reused instead (see `reserved`).
    db.run("CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, channel_id TEXT NOT NULL, value TEXT NOT NULL)");
    db.run("CREATE TABLE IF NOT EXISTS offsets (grp TEXT PRIMARY KEY, seq INTEGER NOT NULL)");
    db.run("CREATE TABLE IF NOT EXISTS reserved (k INTEGER PRIMARY KEY CHECK (k = 0), seq INTEGER NOT NULL)");
    // Standalone used to consume as "controllers"; it now uses KAFKA_GROUP's default like every mode.
    db.run("UPDATE OR IGNORE offsets SET grp = 'chat-controllers' WHERE grp = 'controllers'");
    db.run("DELETE FROM offsets WHERE grp = 'controllers'");

    const ins = db.query<never, [number, string, string]>("INSERT INTO log (seq, channel_id, value) VALUES (?, ?, ?)");
    const setOffset = db.query("INSERT INTO offsets (grp, seq) VALUES (?, ?) ON CONFLICT(grp) DO UPDATE SET seq = excluded.seq");
    const trim = db.query("DELETE FROM log WHERE seq IN (SELECT seq FROM log WHERE seq < ? ORDER BY seq LIMIT ?)");
    const setReserved = db.query("INSERT INTO reserved (k, seq) VALUES (0, ?) ON CONFLICT(k) DO UPDATE SET seq = excluded.seq");
    // Positions and trims go in transactions of their own, never in an append's: a commit costs no
    // fsync here (the sync thread's one covers them all), and the delivery of appends never waits for a trim.
    this.positionsTx = db.transaction((positions: [string, number][]) => {
      for (const [grp, seq] of positions) setOffset.run(grp, seq);
      return this.trimTarget !== undefined && trim.run(this.trimTarget, TRIM_PAGE).changes === TRIM_PAGE;
    });
    this.appendTx = db.transaction((batches: LogRecord[][]) => {
      let seq = this.assigned;
      const seqs = batches.map((records) =>
        records.map((r) => {
          ins.run(++seq, r.channelId, r.value);
          return seq;
        }),
      );
      if (seq > this.reserving) setReserved.run(seq + this.reserve);
      return seqs;
    });
    this.closeTx = db.transaction(() => {
      this.positionsTx([...this.positions]);
      setReserved.run(this.assigned);
    });

    // What a crashed predecessor wrote is delivered only once it is on disk. A checkpoint copies the
    // WAL into the database file and syncs that (once, at start): it holds even if the predecessor
    // died after a failed fsync (the kernel may then keep those WAL pages in its cache as clean, and
    // a descriptor opened now would not hear of the error).
    const cp = db.query<{ busy: number }, []>("PRAGMA wal_checkpoint(TRUNCATE)").get();
    if (cp?.busy) throw new Error(`log: ${path} is in use by another process (its WAL could not be checkpointed)`);
    dropAutoincrement(db);
    // Start above every seq that may have been delivered before a crash (and every one still in the log).
    const bound = db.query<{ seq: number }, []>("SELECT seq FROM reserved WHERE k = 0").get()?.seq ?? 0;
    const highest = db.query<{ m: number | null }, []>("SELECT MAX(seq) AS m FROM log").get()?.m ?? 0;
    this.assigned = this.reserved = this.reserving = Math.max(bound, highest);
    this.deliverable = this.top = highest;
    this.syncer = startCheckpointer(path, { syncGate: opts.syncGate, name: "log" });
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

  /** Commits what this tick appended, delivers it (within the reservation), and acks it once fsync'd. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const failure = this.failure ?? this.syncer.failure;
    if (failure) {
      // Accepted before the log broke: failed, never written.
      const err = new Error(failure);
      for (const p of batch) p.reject(err);
      return;
    }
    let seqs: number[][];
    try {
      seqs = this.appendTx(batch.map((p) => p.records));
    } catch (err) {
      // Rolled back: nothing of it was written or delivered.
      const e = new Error(`log append failed: ${String(err)}`);
      for (const p of batch) p.reject(e);
      return;
    }
    const last = seqs.at(-1)!.at(-1)!;
    this.top = this.assigned = last;
    batch.forEach((p, i) => p.records.forEach((r, j) => this.tail.push({ seq: seqs[i]![j]!, channelId: r.channelId, value: r.value })));
    if (last > this.reserving) this.reserving = last + this.reserve;
    const bound = this.reserving;
    // Within the bound on disk: delivered now. Above it (the commit that crosses it, and any after
    // it until that one is fsync'd): once fsync'd.
    if (last <= this.reserved) this.readable(last);
    // Syncs are answered in order: one that resolves covers every commit made before it was asked,
    // the bound this one wrote or saw included.
    this.syncer.sync(true).then(
      () => {
        batch.forEach((p, i) => p.resolve(seqs[i]!));
        if (bound > this.reserved) this.reserved = bound;
        this.readable(Math.min(this.top, this.reserved));
      },
      (err: Error) => {
        // Written and maybe delivered, but not known to be durable: refused, and so is everything after.
        const why = `log fsync failed: ${err.message}`;
        if (!this.closed) this.failure ??= why;
        const e = new Error(this.failure ?? why);
        for (const p of batch) p.reject(e);
      },
    );
  }

  /** Consumers may read up to `last`: wakes them if that is further than before. */
  private readable(last: number): void {
    if (last <= this.deliverable) return;
    this.deliverable = last;
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const w of waiters) w();
  }

  async consume(opts: { group: string; signal: AbortSignal; handle: ConsumeHandler }): Promise<void> {
    const read = this.db.query<{ seq: number; channel_id: string; value: string }, [number, number]>(
      `SELECT seq, channel_id, value FROM log WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ${BATCH}`,
    );
    const stored = this.db.query<{ seq: number }, [string]>("SELECT seq FROM offsets WHERE grp = ?").get(opts.group)?.seq ?? 0;
    let position = Math.max(stored, this.committed.get(opts.group) ?? 0);
    // Commits in log order, each once its batch is settled; a batch that never settles stops the later ones.
    let commits: Promise<void> = Promise.resolve();
    const commit = (seq: number) => {
      if (this.closed) return;
      this.committed.set(opts.group, seq);
      this.positions.set(opts.group, Math.max(this.positions.get(opts.group) ?? 0, seq));
      if (++this.commitsSinceTrim >= 100) this.trimBelow(opts.group, seq);
      this.positionsTimer ??= setTimeout(() => this.writePositions(), POSITIONS_EVERY_MS);
    };
    while (!opts.signal.aborted && !this.closed) {
      const rows =
        this.tail.after(position, this.deliverable, BATCH) ??
        read.all(position, this.deliverable).map((r) => ({ seq: r.seq, channelId: r.channel_id, value: r.value }));
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
      const accepted = await opts.handle(rows, { partition: "0", lag: Math.max(this.top, last) - last, assignment: 0 });
      position = last;
      if (this.closed) break;
      commits = accepted ? commits.then(() => accepted.settled).then(() => commit(last)) : commits.then(() => commit(last));
      commits.catch(() => undefined); // a rejection only stops later commits
    }
    await commits.catch(() => undefined);
  }

  /** Writes the positions gathered, then trims a page at a time, a turn of the event loop between pages. */
  private writePositions(): void {
    this.positionsTimer = undefined;
    if (this.closed) return;
    const positions = [...this.positions];
    let more: boolean;
    try {
      more = this.positionsTx(positions);
    } catch {
      // Busy or full: kept, and tried again later; at worst a batch is consumed again after a crash.
      this.positionsTimer = setTimeout(() => this.writePositions(), POSITIONS_EVERY_MS);
      return;
    }
    // Positions that moved on meanwhile stay for the next write.
    for (const [grp, seq] of positions) if (this.positions.get(grp) === seq) this.positions.delete(grp);
    if (!more) this.trimTarget = undefined;
    else this.positionsTimer = setTimeout(() => this.writePositions(), 0);
  }

  /** Keeps `retain` entries behind the slowest consumer; older ones live in the message store. */
  private trimBelow(group: string, committing: number): void {
    this.commitsSinceTrim = 0;
    const others = this.db.query<{ m: number | null }, [string]>("SELECT MIN(seq) AS m FROM offsets WHERE grp != ?").get(group)?.m;
    const min = Math.min(committing, others ?? committing);
    if (min - this.retain > 0) {
      this.trimTarget = Math.max(this.trimTarget ?? 0, min - this.retain + 1);
      this.positionsTimer ??= setTimeout(() => this.writePositions(), POSITIONS_EVERY_MS);
    }
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error("log closed");
    const failure = this.failure ?? this.syncer.failure;
    if (failure) throw new Error(failure);
    this.db.query("SELECT 1").get();
  }

  private closing: Promise<void> | undefined;
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.flush();
    this.closed = true;
    for (const w of this.waiters) w();
    clearTimeout(this.positionsTimer);
    this.positionsTimer = undefined;
    try {
      if (!this.failure && !this.syncer.failure) {
        // The last positions, and the bound lowered to the last seq (every append is durable once
        // the sync below returns), so the next start leaves no gap.
        this.closeTx();
        // Answered after every sync asked before it: the appends above are settled too.
        await this.syncer.sync(true);
      } else {
        // Broken: the positions still (they need no fsync of their own), never a lower bound.
        this.positionsTx([...this.positions]);
      }
    } catch {
      // What may not be on disk is the last positions (consumed again) and the lowered bound (the
      // higher one stays: a gap at the next start).
    }
    await this.syncer.close();
    this.db.close();
  }
}
