import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCheckpointer, SYNC_THREAD_NICE } from "./sqlite-checkpointer";

/** This process's threads: id → nice value (field 19 of /proc/…/stat, after the parenthesised name). */
function niceByThread(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      out.set(tid, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
    } catch {
      // a thread that ended meanwhile
    }
  }
  return out;
}

test.if(process.platform === "linux")("the sync thread runs at a lower CPU priority than the event loop; the event loop's is untouched", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "chat-ckpt-")), "x.db");
  const db = new Database(path, { create: true });
  db.run("PRAGMA journal_mode=WAL");
  db.run("CREATE TABLE t (v TEXT)");
  const before = niceByThread();
  const c = startCheckpointer(path);
  db.run("INSERT INTO t VALUES ('a')");
  await c.sync(true); // answered by the thread, so it has opened (and lowered itself) by now
  const added = [...niceByThread()].filter(([tid]) => !before.has(tid));
  expect(added.map(([, nice]) => nice)).toContain(SYNC_THREAD_NICE);
  expect(niceByThread().get(String(process.pid))).toBe(before.get(String(process.pid))!);
  await c.close();
  db.close();
});
