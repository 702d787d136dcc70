import { Database } from "bun:sqlite";
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbeddedLog } from "./embedded-log";

// What the embedded log promises beyond the MessageLog contract (embedded.test.ts): consumers may
// read a commit before its fsync, appends resolve only after it, and no seq is handed out twice.
// A gate held by the test stands for a slow disk: the log's fsyncs (on its sync thread) wait while it is 0.

const logs: EmbeddedLog[] = [];
const stops: AbortController[] = [];
const gates: (() => void)[] = [];
afterEach(async () => {
  for (const open of gates.splice(0)) open(); // a test that failed while holding one: let the sync thread close
  for (const s of stops.splice(0)) s.abort();
  for (const l of logs.splice(0)) await l.close();
});

function setup(opts: { reserve?: number; dir?: string; retain?: number } = {}) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "chat-elog-"));
  const gate = new Int32Array(new SharedArrayBuffer(8));
  const open = () => {
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
  };
  const hold = () => Atomics.store(gate, 0, 0);
  open();
  gates.push(open);
  const log = new EmbeddedLog(dir, { reserve: opts.reserve, retain: opts.retain, syncGate: gate });
  logs.push(log);
  /** Resolves once the next fsync is waiting at the gate (its commit written). */
  const atGate = async () => {
    const n = Atomics.load(gate, 1);
    const r = Atomics.waitAsync(gate, 1, n);
    if (r.async) await r.value;
  };
  /** Each consumed batch's seqs, and a promise for the next batch; `busy` keeps the handler from returning. */
  const consumed: number[][] = [];
  let next: (seqs: number[]) => void = () => {};
  let busy: Promise<void> | undefined;
  const stop = new AbortController();
  stops.push(stop);
  void log.consume({
    group: "g",
    signal: stop.signal,
    handle: async (batch) => {
      const seqs = batch.map((r) => r.seq);
      consumed.push(seqs);
      next(seqs);
      await busy;
      return undefined;
    },
  });
  const nextBatch = () => new Promise<number[]>((r) => (next = r));
  const keepBusy = () => {
    let done!: () => void;
    busy = new Promise((r) => (done = r));
    return () => {
      busy = undefined;
      done();
    };
  };
  return { dir, log, open, hold, atGate, consumed, nextBatch, keepBusy };
}

const rec = (value: string) => ({ channelId: "c1", value });

/** A first run of the log in `dir`: `values` appended, then closed cleanly. */
async function firstRun(dir: string, reserve: number, values: string[]): Promise<void> {
  const first = setup({ dir, reserve });
  await first.log.append(values.map(rec));
  await first.log.close();
  logs.splice(logs.indexOf(first.log), 1);
}

test("a commit within the reservation is consumed before its fsync; its append resolves only after", async () => {
  const { log, open, hold, nextBatch } = setup({ reserve: 100 });
  let batch = nextBatch();
  expect(await log.append([rec("first")])).toEqual([1]); // crosses the (empty) reservation
  expect(await batch).toEqual([1]);

  hold();
  const order: string[] = [];
  batch = nextBatch();
  const appended = log.append([rec("a"), rec("b")]).then((seqs) => {
    order.push("acked");
    return seqs;
  });
  expect(await batch).toEqual([2, 3]); // while the fsync waits
  order.push("consumed");
  open();
  expect(await appended).toEqual([2, 3]);
  expect(order).toEqual(["consumed", "acked"]);
});

test("the batch that crosses the reservation is consumed only once it (and the new bound) is on disk", async () => {
  const { log, open, hold, nextBatch } = setup({ reserve: 3 });
  let batch = nextBatch();
  await log.append([rec("1")]); // seq 1, reserved up to 4
  await batch;
  hold();
  const order: string[] = [];
  batch = nextBatch().then((seqs) => {
    order.push("consumed");
    return seqs;
  });
  const appended = log.append([rec("2"), rec("3"), rec("4"), rec("5")]).then(() => order.push("acked"));
  // Released right away; the order below shows the consumer was not woken before the fsync.
  open();
  await appended;
  expect(await batch).toEqual([2, 3, 4, 5]);
  expect(order).toEqual(["acked", "consumed"]);
});

test("a consumer still busy with a batch does not read on into a crossing commit before its fsync", async () => {
  const { log, open, hold, atGate, nextBatch, keepBusy } = setup({ reserve: 3 });
  let batch = nextBatch();
  await log.append([rec("1")]); // seq 1, reserved up to 4
  await batch;
  const release = keepBusy();
  batch = nextBatch();
  await log.append([rec("2")]);
  expect(await batch).toEqual([2]); // the handler has it and has not returned
  hold();
  const arrived = atGate();
  const order: string[] = [];
  const appended = log.append([rec("3"), rec("4"), rec("5")]).then(() => order.push("acked"));
  await arrived; // committed (readable through any connection), its fsync held
  batch = nextBatch().then((seqs) => {
    order.push("consumed");
    return seqs;
  });
  release(); // the consumer goes on at once and reads again
  await new Promise((r) => setImmediate(r)); // every microtask of that has run
  open();
  await appended;
  expect(await batch).toEqual([3, 4, 5]);
  expect(order).toEqual(["acked", "consumed"]);
});

test("a commit after the crossing one does not deliver it (or itself) before the crossing commit's fsync", async () => {
  const { log, open, hold, atGate, consumed, nextBatch } = setup({ reserve: 3 });
  const batch = nextBatch();
  await log.append([rec("1")]); // seq 1, bound 4 on disk
  await batch;
  hold();
  const arrived = atGate();
  const crossing = log.append([rec("2"), rec("3"), rec("4"), rec("5")]); // writes bound 8, not yet on disk
  await arrived; // its fsync is held
  const later = log.append([rec("6")]); // below the new bound, above the one on disk
  // Two turns of the event loop: the later append is committed (setImmediate) and any consumer woken by it has read.
  for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
  expect(consumed).toEqual([[1]]);
  open();
  expect(await crossing).toEqual([2, 3, 4, 5]);
  expect(await later).toEqual([6]);
  while (consumed.flat().length < 6) await nextBatch();
  expect(consumed.flat()).toEqual([1, 2, 3, 4, 5, 6]);
});

test("the commit that crosses the bound moves it, durably, before anything above the old bound is delivered", async () => {
  const { dir, log, nextBatch } = setup({ reserve: 10 });
  const bound = () => {
    const db = new Database(join(dir, "log.db"), { readonly: true });
    try {
      return db.query<{ seq: number }, []>("SELECT seq FROM reserved").get()?.seq;
    } finally {
      db.close();
    }
  };
  let batch = nextBatch();
  await log.append([rec("1"), rec("2")]);
  await batch;
  expect(bound()).toBe(12); // in the acked (fsync'd) commit of 1 and 2
  batch = nextBatch();
  await log.append([rec("3")]); // within the bound: not moved
  await batch;
  expect(bound()).toBe(12);
});

test("after a power loss that took delivered commits, seqs start above every one that was handed out", async () => {
  const dir = mkdtempSync(join(tmpdir(), "chat-elog-"));
  const first = setup({ dir, reserve: 10 });
  await first.log.append([rec("1")]); // reserved up to 11, durable
  await first.log.append([rec("2"), rec("3")]); // delivered from the page cache, then (below) lost
  await first.log.close();
  logs.splice(logs.indexOf(first.log), 1);
  // The disk as a power loss would leave it: the commit of 2 and 3 gone, the bound from the commit of 1 kept.
  const db = new Database(join(dir, "log.db"));
  db.run("DELETE FROM log WHERE seq > 1");
  db.run("UPDATE reserved SET seq = 11");
  db.close();

  const again = setup({ dir, reserve: 10 });
  expect(await again.log.append([rec("after")])).toEqual([12]);
});

test("a log written with AUTOINCREMENT seqs is rebuilt without them; no seq it handed out is given again", async () => {
  const dir = mkdtempSync(join(tmpdir(), "chat-elog-"));
  const old = new Database(join(dir, "log.db"), { create: true });
  old.run("PRAGMA journal_mode=WAL");
  old.run("CREATE TABLE log (seq INTEGER PRIMARY KEY AUTOINCREMENT, channel_id TEXT NOT NULL, value TEXT NOT NULL)");
  for (let i = 1; i <= 8; i++) old.run("INSERT INTO log (channel_id, value) VALUES ('c', ?)", [String(i)]);
  old.run("DELETE FROM log WHERE seq > 5"); // 6 to 8 handed out (delivered), then lost
  old.close();

  const { dir: d, log, consumed } = setup({ dir });
  expect(consumed[0]).toEqual([1, 2, 3, 4, 5]); // what was in it is still there
  expect(await log.append([rec("after")])).toEqual([9]);
  await log.close();
  logs.splice(logs.indexOf(log), 1);
  const db = new Database(join(d, "log.db"), { readonly: true });
  try {
    expect(db.query<{ sql: string }, []>("SELECT sql FROM sqlite_master WHERE name = 'log'").get()!.sql).not.toContain("AUTOINCREMENT");
  } finally {
    db.close();
  }
});

test("a clean close leaves no gap: the next run goes on from the last seq", async () => {
  const dir = mkdtempSync(join(tmpdir(), "chat-elog-"));
  await firstRun(dir, 1000, ["1", "2"]);
  const again = setup({ dir, reserve: 1000 });
  expect(await again.log.append([rec("3")])).toEqual([3]);
});

test("appends made as the sync thread dies fail instead of waiting forever", async () => {
  const { log } = setup();
  expect(await log.append([rec("1")])).toEqual([1]);
  // The thread, stopped as a crash would stop it (the log's own handle: nothing else reaches it).
  const writer = (log as unknown as { syncer: { thread: Worker } }).syncer.thread;
  writer.terminate();
  const results = await Promise.allSettled([log.append([rec("2")]), new Promise((r) => writer.addEventListener("close", r)).then(() => log.append([rec("3")]))]);
  expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
  await expect(log.ping()).rejects.toThrow("log sync thread exited");
});

test("entries more than `retain` behind the consumers are trimmed from the log", async () => {
  const { dir, log, nextBatch } = setup({ retain: 10 });
  for (let i = 1; i <= 150; i++) {
    const batch = nextBatch();
    await log.append([rec(String(i))]);
    await batch;
  }
  await log.close(); // writes the last positions, and the trim they asked for
  logs.splice(logs.indexOf(log), 1);
  const db = new Database(join(dir, "log.db"), { readonly: true });
  try {
    const { lo, hi } = db.query<{ lo: number; hi: number }, []>("SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM log").get()!;
    // Trimmed at the 100th committed position (100 - 10 + 1); nothing of the last `retain` is gone.
    expect(lo).toBe(91);
    expect(hi).toBe(150);
  } finally {
    db.close();
  }
});

/** A consumer of its own group that collects every record and resolves once it has `n`. */
function collect(log: EmbeddedLog, group: string, n: number) {
  const got: { seq: number; value: string }[] = [];
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const stop = new AbortController();
  stops.push(stop);
  void log.consume({
    group,
    signal: stop.signal,
    handle: async (batch) => {
      for (const r of batch) got.push({ seq: r.seq, value: r.value });
      if (got.length >= n) done();
      return undefined;
    },
  });
  return { got, all };
}

test("a consumer far behind reads the log back, then the records kept in memory, without a gap", async () => {
  const { log } = setup();
  const n = 15_000; // more than the memory keeps
  for (let k = 0; k < 3; k++) await log.append(Array.from({ length: n / 3 }, (_, i) => rec(String(k * (n / 3) + i + 1))));
  const late = collect(log, "late", n + 1);
  await log.append([rec(String(n + 1))]); // committed while it catches up
  await late.all;
  expect(late.got.length).toBe(n + 1);
  expect(late.got.every((r, i) => r.seq === i + 1 && r.value === String(i + 1))).toBe(true);
});

test("after a restart above the bound, a consumer gets the old records, then the new ones, in order", async () => {
  const dir = mkdtempSync(join(tmpdir(), "chat-elog-"));
  await firstRun(dir, 10, ["a", "b"]);
  const db = new Database(join(dir, "log.db"));
  db.run("UPDATE reserved SET seq = 12"); // as a crash would leave it
  db.close();
  const again = setup({ dir, reserve: 10 });
  const c = collect(again.log, "fresh", 5);
  expect(await again.log.append([rec("c"), rec("d"), rec("e")])).toEqual([13, 14, 15]);
  await c.all;
  expect(c.got).toEqual([
    { seq: 1, value: "a" },
    { seq: 2, value: "b" },
    { seq: 13, value: "c" },
    { seq: 14, value: "d" },
    { seq: 15, value: "e" },
  ]);
});

test("close() called twice: both wait for the one shutdown", async () => {
  const { log } = setup();
  const seqs = log.append([rec("1")]);
  const [a, b] = [log.close(), log.close()];
  expect(a).toBe(b);
  await a;
  expect(await seqs).toEqual([1]);
  logs.splice(logs.indexOf(log), 1);
});
