// The embedded log's only writer, on a thread of its own, so the event loop that serves sockets
// never waits for the disk. Appends are group-committed in one transaction written to the WAL
// without a sync (synchronous=NORMAL: it survives a killed process), announced as `written` so
// consumers can deliver it, then made durable with an fdatasync of the WAL and only then
// `appended` (acked). Seqs are never handed out twice, power loss or not: see `reserved` below.
import { Database } from "bun:sqlite";
import { WalFile } from "./wal-file";

export type WriterRequest =
  | { type: "open"; path: string; reserve: number; syncGate?: Int32Array }
  | { type: "append"; id: number; records: [channelId: string, value: string][][] }
  | { type: "commit"; group: string; seq: number; trimBelow?: number }
  | { type: "close" };
export type WriterReply =
  /** Everything up to `last` is on disk: consumers may read it. `error`: the log could not open (every append fails). */
  | { type: "opened"; last: number; error?: string }
  /** Committed up to `last` but not yet fsync'd: consumers may deliver it, nobody is acked yet. */
  | { type: "written"; last: number }
  /** One request's records are on disk (fsync'd): it may be acked. */
  | { type: "appended"; id: number; seqs: number[][]; last: number }
  /** `broken`: the log refuses every later append (a failed fsync), and readiness reports it. */
  | { type: "failed"; id: number; error: string; broken?: boolean }
  | { type: "closed" };

/** This thread's side of the channel to the log (the worker's global scope). */
const port = globalThis as unknown as { postMessage(m: WriterReply): void; onmessage: ((e: MessageEvent) => void) | null };
let db: Database | undefined;
let appendTx: ((batches: [string, string][][]) => number[][]) | undefined;
let commitTx: (() => void) | undefined;
let closeTx: (() => void) | undefined;
/**
 * Consumer positions waiting to be written: they ride in the next append's transaction (or one of
 * their own if no append comes within COMMIT_DELAY_MS), so committing costs no fsync of its own. A
 * position lost to a crash only means a batch is consumed again.
 */
const commits = new Map<string, number>();
let trimBelow: number | undefined;
let commitTimer: ReturnType<typeof setTimeout> | undefined;
const COMMIT_DELAY_MS = 50;

/**
 * Seqs up to `reserved` may be delivered before they are durable; the bound itself is durable
 * before any seq above it is delivered (the batch that crosses it is announced only once fsync'd,
 * and moves it `reserve` further). After a power loss the log starts again above it, so a seq
 * delivered and then lost is never given to another message. A clean close lowers it to the last
 * seq (all durable then), so restarts leave no gap; a crash leaves one of up to `reserve`.
 */
let reserved = 0;
let reserve = 100_000;
/** Set by the first failed fsync and kept: after one, pages the kernel could not write may count as clean. */
let broken: string | undefined;
let wal: WalFile | undefined;
/**
 * Tests only (a slow disk): while its first element is 0, fsyncs wait; its second counts the fsyncs
 * that reached the gate (each after its commit), notified.
 */
let syncGate: Int32Array | undefined;

/** Makes every commit so far durable (the WAL, `WalFile`); `missingOk`: before anything was written. */
function durable(missingOk = false): void {
  if (syncGate) {
    Atomics.add(syncGate, 1, 1);
    Atomics.notify(syncGate, 1);
    while (Atomics.load(syncGate, 0) === 0) Atomics.wait(syncGate, 0, 0);
  }
  if (!wal!.sync() && !missingOk) throw new Error("no WAL after a commit");
}

function open(m: Extract<WriterRequest, { type: "open" }>): void {
  if (!Number.isSafeInteger(m.reserve) || m.reserve < 1) throw new Error(`reserve must be a positive integer, not ${m.reserve}`);
  wal = new WalFile(m.path);
  reserve = m.reserve;
  syncGate = m.syncGate;
  db = new Database(m.path, { create: true, strict: true });
  db.run("PRAGMA journal_mode=WAL");
  db.run("PRAGMA synchronous=NORMAL"); // durable() syncs, after `written`
  db.run("PRAGMA busy_timeout=5000");
  const ins = db.query<{ seq: number }, [string, string]>("INSERT INTO log (channel_id, value) VALUES (?, ?) RETURNING seq");
  const setOffset = db.query("INSERT INTO offsets (grp, seq) VALUES (?, ?) ON CONFLICT(grp) DO UPDATE SET seq = excluded.seq");
  const trim = db.query("DELETE FROM log WHERE seq < ?");
  const setReserved = db.query("INSERT INTO reserved (k, seq) VALUES (0, ?) ON CONFLICT(k) DO UPDATE SET seq = excluded.seq");
  const top = () => db!.query<{ seq: number }, []>("SELECT seq FROM sqlite_sequence WHERE name = 'log'").get()?.seq ?? 0;
  const writeCommits = () => {
    for (const [grp, seq] of commits) setOffset.run(grp, seq);
    commits.clear();
    if (trimBelow !== undefined) trim.run(trimBelow);
    trimBelow = undefined;
    clearTimeout(commitTimer);
    commitTimer = undefined;
  };
  appendTx = db.transaction((batches: [string, string][][]) => {
    writeCommits();
    const seqs = batches.map((records) => records.map(([ch, v]) => ins.get(ch, v)!.seq));
    const last = seqs.at(-1)!.at(-1)!;
    if (last > reserved) setReserved.run(last + reserve);
    return seqs;
  });
  commitTx = db.transaction(writeCommits);
  closeTx = db.transaction(() => {
    writeCommits();
    setReserved.run(top());
  });
  // Start above every seq that may have been delivered before a crash.
  const bound = db.query<{ seq: number }, []>("SELECT seq FROM reserved WHERE k = 0").get()?.seq ?? 0;
  const highest = top();
  if (bound > highest && db.run("UPDATE sqlite_sequence SET seq = ? WHERE name = 'log'", [bound]).changes === 0) {
    db.run("INSERT INTO sqlite_sequence (name, seq) VALUES ('log', ?)", [bound]);
  }
  reserved = Math.max(bound, highest);
  // What a crashed predecessor wrote is delivered only once it is on disk. A checkpoint copies the
  // WAL into the database file and syncs that: it holds even if the predecessor died after a failed
  // fsync (the kernel may then keep those WAL pages in its cache as clean, and a descriptor opened
  // now would not hear of the error).
  db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  durable(true);
  port.postMessage({ type: "opened", last: db.query<{ m: number | null }, []>("SELECT MAX(seq) AS m FROM log").get()?.m ?? 0 });
}

// Requests that arrive while a commit runs wait in the worker's queue: the next commit takes them all.
let queue: Extract<WriterRequest, { type: "append" }>[] = [];
let scheduled = false;

function fail(batch: typeof queue, error: string, fatal: boolean): void {
  for (const r of batch) port.postMessage({ type: "failed", id: r.id, error, broken: fatal || undefined });
}

function flush(): void {
  scheduled = false;
  const batch = queue;
  queue = [];
  if (broken) return fail(batch, broken, true);
  let seqs: number[][];
  try {
    seqs = appendTx!(batch.flatMap((r) => r.records));
  } catch (err) {
    return fail(batch, String(err), false);
  }
  const last = seqs.at(-1)!.at(-1)!;
  const crossed = last > reserved;
  if (crossed) reserved = last + reserve;
  else port.postMessage({ type: "written", last });
  try {
    durable();
  } catch (err) {
    // Written and maybe delivered, but not known to be durable: refused, and so is everything after.
    broken = `log fsync failed: ${String(err)}`;
    return fail(batch, broken, true);
  }
  let i = 0;
  for (const r of batch) {
    const mine = seqs.slice(i, i + r.records.length);
    i += r.records.length;
    port.postMessage({ type: "appended", id: r.id, seqs: mine, last: mine.at(-1)?.at(-1) ?? 0 });
  }
}

if (!Bun.isMainThread) {
  port.onmessage = (e: MessageEvent<WriterRequest>) => {
    const m = e.data;
    switch (m.type) {
      case "open":
        try {
          open(m);
        } catch (err) {
          broken = `log open failed: ${String(err)}`;
          port.postMessage({ type: "opened", last: 0, error: broken });
        }
        break;
      case "append":
        queue.push(m);
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
        break;
      case "commit":
        commits.set(m.group, Math.max(commits.get(m.group) ?? 0, m.seq));
        if (m.trimBelow !== undefined) trimBelow = Math.max(trimBelow ?? 0, m.trimBelow);
        commitTimer ??= setTimeout(() => commitTx!(), COMMIT_DELAY_MS);
        break;
      case "close":
        if (queue.length) flush();
        if (!broken && closeTx) {
          try {
            closeTx();
            durable();
          } catch {
            // Every append was fsync'd before; what may not be on disk is the last positions (consumed
            // again) and the lowered bound (the higher one stays, a gap at the next start).
          }
        }
        wal?.close();
        db?.close();
        port.postMessage({ type: "closed" });
        break;
    }
  };
}
