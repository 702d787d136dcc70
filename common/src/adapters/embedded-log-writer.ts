// The embedded log's only writer, on a thread of its own: appends are group-committed with an fsync
// (synchronous=FULL) here, so the event loop that serves sockets never waits for the disk.
import { Database } from "bun:sqlite";

export type WriterRequest =
  | { type: "append"; id: number; records: [channelId: string, value: string][][] }
  | { type: "commit"; group: string; seq: number; trimBelow?: number }
  | { type: "close" };
export type WriterReply = { type: "appended"; id: number; seqs: number[][]; last: number } | { type: "failed"; id: number; error: string } | { type: "closed" };

/** This thread's side of the channel to the log (the worker's global scope). */
const port = globalThis as unknown as { postMessage(m: WriterReply): void; onmessage: ((e: MessageEvent) => void) | null };
let db: Database | undefined;
let insert: ReturnType<Database["query"]> | undefined;
let appendTx: ((batches: [string, string][][]) => number[][]) | undefined;
let commitTx: (() => void) | undefined;
/**
 * Consumer positions waiting to be written: they ride in the next append's transaction (or one of
 * their own if no append comes within COMMIT_DELAY_MS), so committing costs no fsync of its own. A
 * position lost to a crash only means a batch is consumed again.
 */
const commits = new Map<string, number>();
let trimBelow: number | undefined;
let commitTimer: ReturnType<typeof setTimeout> | undefined;
const COMMIT_DELAY_MS = 50;

function open(path: string): void {
  db = new Database(path, { create: true, strict: true });
  db.run("PRAGMA journal_mode=WAL");
  db.run("PRAGMA synchronous=FULL");
  db.run("PRAGMA busy_timeout=5000");
  const ins = db.query<{ seq: number }, [string, string]>("INSERT INTO log (channel_id, value) VALUES (?, ?) RETURNING seq");
  insert = ins;
  const setOffset = db.query("INSERT INTO offsets (grp, seq) VALUES (?, ?) ON CONFLICT(grp) DO UPDATE SET seq = excluded.seq");
  const trim = db.query("DELETE FROM log WHERE seq < ?");
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
    return batches.map((records) => records.map(([ch, v]) => ins.get(ch, v)!.seq));
  });
  commitTx = db.transaction(writeCommits);
}

// Requests that arrive while a commit runs wait in the worker's queue: the next commit takes them all.
let queue: Extract<WriterRequest, { type: "append" }>[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  const batch = queue;
  queue = [];
  try {
    const seqs = appendTx!(batch.flatMap((r) => r.records));
    let i = 0;
    for (const r of batch) {
      const mine = seqs.slice(i, i + r.records.length);
      i += r.records.length;
      const last = mine.at(-1)?.at(-1) ?? 0;
      port.postMessage({ type: "appended", id: r.id, seqs: mine, last });
    }
  } catch (err) {
    for (const r of batch) port.postMessage({ type: "failed", id: r.id, error: String(err) });
  }
}

if (!Bun.isMainThread) {
  port.onmessage = (e: MessageEvent<WriterRequest | { type: "open"; path: string }>) => {
    const m = e.data;
    switch (m.type) {
      case "open":
        open(m.path);
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
        if (commits.size || trimBelow !== undefined) commitTx!();
        insert = undefined;
        db?.close();
        port.postMessage({ type: "closed" });
        break;
    }
  };
}
