// WAL checkpoints and syncs for a SQLite file written on the event loop. At synchronous=NORMAL a commit
// does not fsync; a checkpoint does (WAL and database file), and SQLite's automatic one runs inside
// whichever commit crosses the threshold — on the thread that serves sockets. This worker checkpoints
// instead, on its own connection, every CHECKPOINT_MS (PASSIVE: it never blocks readers or the writer),
// and on request fsyncs the WAL, after which every commit made before the request survives a power loss.
import { Database } from "bun:sqlite";
import { getPriority, setPriority } from "node:os";
import { WalFile } from "./wal-file";

const CHECKPOINT_MS = 1000;
/**
 * Syncs asked for are at least this far apart: under load every consumed batch asks, and each fsync
 * here competes with the log's own commits for the disk (bench/README.md, "Where our fan-out time goes").
 */
const SYNC_GAP_MS = 200;
/**
 * How many nice levels below the event loop the thread runs (Linux; at most 19). Woken for every
 * commit's sync, at the event loop's priority it preempted it mid-delivery (or whatever else had the
 * core) for its fdatasync's ~0.1 ms of kernel work; lower (like RocksDB's background threads) it yields
 * instead, and under full load its wake-ups, and so the acks, wait longer. Fan-out 200 x 1,000 msg/s:
 * delivery p50 1.52-1.65 -> 1.18-1.29 ms, ack p50 +0.1 (bench/README.md, "The sync threads' priority").
 */
export const SYNC_THREAD_NICE_BELOW = 10;

type Request = { type: "open"; path: string; syncGate?: Int32Array } | { type: "sync"; id: number; now: boolean } | { type: "hurry" } | { type: "close" };
type Reply = { type: "synced"; id: number; error?: string } | { type: "closed" };

export interface Checkpointer {
  /**
   * Resolves once every commit made on the file before the call is on disk (WAL fsync'd). `now`:
   * somebody waits for the answer, so the sync starts at once instead of after SYNC_GAP_MS.
   */
  sync(now: boolean): Promise<void>;
  /** Why syncs fail for good (a failed fsync, a dead thread), once one has; readiness reports it. */
  readonly failure: string | undefined;
  close(): Promise<void>;
  /** The thread itself (tests stop it as a crash would). */
  readonly thread: Worker;
}

/**
 * Starts the checkpoint thread for `path` (whose connection must set `wal_autocheckpoint=0`).
 * `name`: what its errors call the file's owner ("store", "log"). `syncGate` (tests: a slow disk): WAL syncs wait while its first element is 0; its second counts those that reached it.
 */
export function startCheckpointer(path: string, opts: { syncGate?: Int32Array; name?: string } = {}): Checkpointer {
  const name = opts.name ?? "store";
  const worker = new Worker(new URL("./sqlite-checkpointer.ts", import.meta.url).href);
  worker.unref();
  worker.postMessage({ type: "open", path, syncGate: opts.syncGate } satisfies Request);
  let closing: Promise<void> | undefined;
  let stopped = false;
  let dead = false;
  let failure: string | undefined;
  let onClosed: (() => void) | undefined;
  // One request out at a time; callers arriving meanwhile wait for the next one, which the worker
  // receives (so starts its fsync) only after their commits.
  let inFlight: { id: number; waiters: Waiter[] } | undefined;
  let queued: Waiter[] = [];
  let queuedNow = false;
  let nextId = 1;
  const send = () => {
    if (stopped || inFlight || queued.length === 0) return;
    inFlight = { id: nextId++, waiters: queued };
    queued = [];
    worker.postMessage({ type: "sync", id: inFlight.id, now: queuedNow } satisfies Request);
    queuedNow = false;
  };
  /** Fails everyone waiting, the request out and those queued behind it. */
  const rejectAll = (err: Error) => {
    for (const w of [...(inFlight?.waiters ?? []), ...queued]) w.reject(err);
    inFlight = undefined;
    queued = [];
  };
  // A thread that died answers nothing: fail who waits, and every later caller, instead of hanging them.
  const died = (why: string) => {
    if (!stopped) failure ??= `${name} sync thread ${why}`;
    dead = stopped = true;
    rejectAll(new Error(`${name} sync thread ${why}`));
    onClosed?.();
  };
  worker.addEventListener("error", (e) => died(`failed: ${(e as ErrorEvent).message}`));
  worker.addEventListener("close", () => died("exited"));
  worker.onmessage = (e: MessageEvent<Reply>) => {
    const m = e.data;
    if (m.type === "closed") return onClosed?.();
    if (!inFlight || inFlight.id !== m.id) return;
    const { waiters } = inFlight;
    inFlight = undefined;
    if (m.error) failure ??= `WAL sync failed: ${m.error}`;
    for (const w of waiters) m.error ? w.reject(new Error(`WAL sync failed: ${m.error}`)) : w.resolve();
    send();
  };
  return {
    thread: worker,
    get failure() {
      return failure;
    },
    sync(now) {
      if (stopped) return Promise.reject(new Error(`${name} closed`));
      return new Promise<void>((resolve, reject) => {
        queued.push({ resolve, reject });
        if (now) {
          queuedNow = true;
          // The request out may be waiting for its gap; ours follows it, so it must not wait.
          if (inFlight) worker.postMessage({ type: "hurry" } satisfies Request);
        }
        send();
      });
    },
    close() {
      stopped = true;
      closing ??= new Promise<void>((resolve) => {
        if (dead) return resolve();
        onClosed = resolve;
        worker.postMessage({ type: "close" } satisfies Request);
      }).then(() => {
        // Requests run in order: a sync asked before close was answered before "closed".
        rejectAll(new Error(`${name} closed`));
        worker.terminate();
      });
      return closing;
    },
  };
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * This thread only: on Linux a nice value belongs to the thread, and `setpriority(PRIO_PROCESS, 0)`
 * (what `os.setPriority(0, …)` calls) sets the caller's. Elsewhere it would be the whole process's: left
 * alone. Only ever lowered, so it needs no privilege (and never outranks the event loop, whatever nice
 * the process runs at). Threads this one starts inherit it: a runtime helper thread it happens to start
 * first (JSC's JIT compiler threads after they idled out) serves the event loop at this priority too.
 */
function lowerPriority(): void {
  if (process.platform !== "linux") return;
  try {
    const now = getPriority(0);
    const target = Math.min(19, now + SYNC_THREAD_NICE_BELOW);
    if (target > now) setPriority(0, target);
  } catch {
    // Refused (a sandbox): the thread works the same, only at the event loop's priority.
  }
}

if (!Bun.isMainThread) {
  const port = globalThis as unknown as { postMessage(m: Reply): void; onmessage: ((e: MessageEvent<Request>) => void) | null };
  let db: Database | undefined;
  let wal: WalFile | undefined;
  let syncGate: Int32Array | undefined;
  /**
   * Set by the first failed fsync or checkpoint I/O error and kept: after one, pages the kernel
   * could not write may count as clean, so no later sync can vouch for earlier commits.
   */
  let broken: string | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let syncTimer: ReturnType<typeof setTimeout> | undefined;
  let waiting: number[] = [];
  let lastSync = -Infinity;
  const checkpoint = (mode: "PASSIVE" | "TRUNCATE") => {
    try {
      db?.run(`PRAGMA wal_checkpoint(${mode})`);
    } catch (err) {
      // Busy or locked: the next tick tries again. An I/O error breaks every later sync.
      if (/I\/O|IOERR/i.test(String(err))) broken ??= `checkpoint: ${String(err)}`;
    }
  };
  /** Syncs the WAL (absent until the first commit in WAL mode: nothing to sync) and answers who asked before. */
  const sync = () => {
    syncTimer = undefined;
    lastSync = performance.now();
    const ids = waiting;
    waiting = [];
    if (!broken) {
      try {
        if (syncGate) {
          Atomics.add(syncGate, 1, 1);
          Atomics.notify(syncGate, 1);
          while (Atomics.load(syncGate, 0) === 0) Atomics.wait(syncGate, 0, 0);
        }
        wal?.sync();
      } catch (err) {
        broken = `WAL sync: ${String(err)}`;
      }
    }
    for (const id of ids) port.postMessage({ type: "synced", id, error: broken });
  };
  /**
   * The pending sync runs now. Not on a timer: a 0 ms one fires a millisecond or more later, which
   * every ack of the embedded log would wait for. Requests never pile up here: the other side has
   * one out at a time.
   */
  const hurry = () => {
    clearTimeout(syncTimer);
    sync();
  };
  port.onmessage = (e) => {
    const m = e.data;
    if (m.type === "open") {
      lowerPriority();
      wal = new WalFile(m.path);
      syncGate = m.syncGate;
      try {
        db = new Database(m.path, { strict: true });
        db.run("PRAGMA busy_timeout=1000");
      } catch (err) {
        broken = `open: ${String(err)}`;
      }
      timer = setInterval(() => checkpoint("PASSIVE"), CHECKPOINT_MS);
    } else if (m.type === "sync") {
      waiting.push(m.id);
      if (m.now) hurry();
      else syncTimer ??= setTimeout(sync, Math.max(0, lastSync + SYNC_GAP_MS - performance.now()));
    } else if (m.type === "hurry") {
      if (syncTimer) hurry();
    } else {
      clearInterval(timer);
      if (syncTimer) {
        clearTimeout(syncTimer);
        sync();
      }
      checkpoint("PASSIVE");
      wal?.close();
      db?.close();
      db = undefined;
      port.postMessage({ type: "closed" });
    }
  };
}
