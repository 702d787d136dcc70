// WAL checkpoints for a SQLite file written on the event loop. At synchronous=NORMAL a commit does not
// fsync; a checkpoint does (WAL and database file), and SQLite's automatic one runs inside whichever
// commit crosses the threshold — on the thread that serves sockets. This worker checkpoints instead,
// on its own connection, every CHECKPOINT_MS (PASSIVE: it never blocks readers or the writer).
import { Database } from "bun:sqlite";

const CHECKPOINT_MS = 1000;

type Request = { type: "open"; path: string } | { type: "close" };

/** Starts the checkpoint thread for `path` (whose connection must set `wal_autocheckpoint=0`). */
export function startCheckpointer(path: string): { close(): Promise<void> } {
  const worker = new Worker(new URL("./sqlite-checkpointer.ts", import.meta.url).href);
  worker.unref();
  worker.postMessage({ type: "open", path } satisfies Request);
  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= new Promise<void>((resolve) => {
        worker.onmessage = () => resolve();
        worker.postMessage({ type: "close" } satisfies Request);
      }).then(() => worker.terminate());
      return closing;
    },
  };
}

if (!Bun.isMainThread) {
  const port = globalThis as unknown as { postMessage(m: unknown): void; onmessage: ((e: MessageEvent<Request>) => void) | null };
  let db: Database | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  const checkpoint = (mode: "PASSIVE" | "TRUNCATE") => {
    try {
      db?.run(`PRAGMA wal_checkpoint(${mode})`);
    } catch {
      // busy or closing: the next tick tries again
    }
  };
  port.onmessage = (e) => {
    const m = e.data;
    if (m.type === "open") {
      db = new Database(m.path, { strict: true });
      db.run("PRAGMA busy_timeout=1000");
      timer = setInterval(() => checkpoint("PASSIVE"), CHECKPOINT_MS);
    } else {
      clearInterval(timer);
      checkpoint("PASSIVE");
      db?.close();
      db = undefined;
      port.postMessage({ type: "closed" });
    }
  };
}
