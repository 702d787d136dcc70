import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCheckpointer, SYNC_THREAD_NICE_BELOW } from "./sqlite-checkpointer";

/** This process's threads: id → name and nice value (field 19 of /proc/…/stat, after the parenthesised name). */
function threads(): Map<string, { name: string; nice: number }> {
  const out = new Map<string, { name: string; nice: number }>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const name = readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim();
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      out.set(tid, { name, nice: Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]) });
    } catch {
      // a thread that ended meanwhile
    }
  }
  return out;
}

const linux = process.platform === "linux";
/** The event loop's nice value: the thread is expected SYNC_THREAD_NICE_BELOW below it (19 at most). */
const base = linux ? threads().get(String(process.pid))!.nice : 0;

test.if(linux && base < 19)("the sync thread runs at a lower CPU priority than the event loop; the event loop's is untouched", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "chat-ckpt-")), "x.db");
  const db = new Database(path, { create: true });
  db.run("PRAGMA journal_mode=WAL");
  db.run("CREATE TABLE t (v TEXT)");
  const before = threads();
  const c = startCheckpointer(path);
  db.run("INSERT INTO t VALUES ('a')");
  await c.sync(true); // answered by the thread, so it has opened (and lowered itself) by now
  const workers = [...threads()].filter(([tid, t]) => !before.has(tid) && t.name === "Worker");
  // The thread, and any thread it started that kept its name (they inherit its nice value too).
  expect(workers.length).toBeGreaterThan(0);
  expect(new Set(workers.map(([, t]) => t.nice))).toEqual(new Set([Math.min(19, base + SYNC_THREAD_NICE_BELOW)]));
  expect(threads().get(String(process.pid))!.nice).toBe(base);
  await c.close();
  db.close();
});
