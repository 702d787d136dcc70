import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataDirLockedError, lockDataDir } from "./data-dir-lock.ts";

const MODULE = join(import.meta.dir, "data-dir-lock.ts");
const dirs: string[] = [];
const children: Bun.Subprocess[] = [];
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), "edge-lock-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * A child process that tries to lock `dir` (with waitForGo: after printing "ready" and reading a line),
 * prints "locked" or the error message, then holds the lock until its stdin closes (or it is killed).
 */
function child(dir: string, { waitForGo = false } = {}) {
  const script = `
    import { lockDataDir } from ${JSON.stringify(MODULE)};
    const input = Bun.stdin.stream().getReader();
    if (${waitForGo}) { console.log("ready"); await input.read(); }
    try { lockDataDir(${JSON.stringify(dir)}); console.log("locked"); }
    catch (e) { console.log(e.message); process.exit(3); }
    while (!(await input.read()).done) {}`;
  const proc = Bun.spawn([process.execPath, "-e", script], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  children.push(proc);
  const reader = proc.stdout.getReader();
  let buffered = "";
  const nextLine = async () => {
    while (!buffered.includes("\n")) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += new TextDecoder().decode(value);
    }
    const i = buffered.indexOf("\n");
    const line = i === -1 ? buffered : buffered.slice(0, i);
    buffered = i === -1 ? "" : buffered.slice(i + 1);
    return line.trim();
  };
  return { proc, nextLine, firstLine: waitForGo ? Promise.resolve("") : nextLine() };
}

const holderOf = (dir: string) => JSON.parse(readFileSync(join(dir, "LOCK"), "utf8")) as { pid: number; start: string | null };

describe("lockDataDir", () => {
  test("writes our pid and start time; release removes the lock and is idempotent", () => {
    const dir = newDir();
    const lock = lockDataDir(dir);
    expect(holderOf(dir).pid).toBe(process.pid);
    expect(holderOf(dir).start).toMatch(/^\d+$/);
    lock.release();
    expect(existsSync(lock.path)).toBe(false);
    lock.release();
    lockDataDir(dir).release(); // free again
    expect(readdirSync(dir)).toEqual([]); // no temp files left behind
  });

  test("a second lock in the same process is refused", () => {
    const dir = newDir();
    const lock = lockDataDir(dir);
    try {
      expect(() => lockDataDir(dir)).toThrow(`data directory ${dir} is already locked by this process (pid ${process.pid})`);
    } finally {
      lock.release();
    }
  });

  test("another process cannot lock a directory we hold; the message names the dir and our pid", async () => {
    const dir = newDir();
    const lock = lockDataDir(dir);
    try {
      const { proc, firstLine } = child(dir);
      expect(await firstLine).toBe(`data directory ${dir} is in use by another process (pid ${process.pid}); stop it or use another data directory`);
      expect(await proc.exited).toBe(3);
      expect(holderOf(dir).pid).toBe(process.pid); // the failed attempt left our lock alone
    } finally {
      lock.release();
    }
  });

  test("we cannot lock a directory a live process holds; once it is SIGKILLed, its stale lock is taken over", async () => {
    const dir = newDir();
    const { proc, firstLine } = child(dir);
    expect(await firstLine).toBe("locked");
    let err: unknown;
    try {
      lockDataDir(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect((err as DataDirLockedError).pid).toBe(proc.pid);
    expect((err as Error).message).toContain(dir);

    proc.kill("SIGKILL");
    await proc.exited;
    expect(holderOf(dir).pid).toBe(proc.pid); // left behind
    const lock = lockDataDir(dir);
    expect(holderOf(dir).pid).toBe(process.pid);
    lock.release();
  });

  test("a process that exits normally removes its lock", async () => {
    const dir = newDir();
    const { proc, firstLine } = child(dir);
    expect(await firstLine).toBe("locked");
    proc.stdin.end();
    expect(await proc.exited).toBe(0);
    expect(existsSync(join(dir, "LOCK"))).toBe(false);
  });

  test("a reused pid (live process, other start time) is stale", async () => {
    const dir = newDir();
    const sleeper = Bun.spawn(["sleep", "30"]);
    children.push(sleeper);
    writeFileSync(join(dir, "LOCK"), JSON.stringify({ pid: sleeper.pid, start: "1" }));
    const lock = lockDataDir(dir);
    expect(holderOf(dir).pid).toBe(process.pid);
    lock.release();
  });

  test("a live process with its own start time holds the lock", async () => {
    const dir = newDir();
    const sleeper = Bun.spawn(["sleep", "30"]);
    children.push(sleeper);
    const stat = readFileSync(`/proc/${sleeper.pid}/stat`, "utf8");
    const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    writeFileSync(join(dir, "LOCK"), JSON.stringify({ pid: sleeper.pid, start }));
    expect(() => lockDataDir(dir)).toThrow(`(pid ${sleeper.pid})`);
  });

  test("our own pid in a lock we do not hold is an earlier life's (a restarted container)", () => {
    const dir = newDir();
    writeFileSync(join(dir, "LOCK"), JSON.stringify({ pid: process.pid, start: "1" }));
    lockDataDir(dir).release();
  });

  test.each(["", "garbage", '{"pid":0}', '{"pid":-1}', '{"pid":"1"}', '{"pid":4194305}'])("a lock file holding %p is stale", (content) => {
    const dir = newDir();
    writeFileSync(join(dir, "LOCK"), content);
    lockDataDir(dir).release();
  });

  test("a missing directory is created", () => {
    const dir = join(newDir(), "a", "b");
    const lock = lockDataDir(dir);
    expect(existsSync(join(dir, "LOCK"))).toBe(true);
    lock.release();
  });

  test("processes racing for one stale lock: exactly one wins", async () => {
    for (let round = 0; round < 5; round++) {
      const dir = newDir();
      writeFileSync(join(dir, "LOCK"), JSON.stringify({ pid: 4194305, start: null })); // above Linux's pid_max
      const racers = Array.from({ length: 4 }, () => child(dir, { waitForGo: true }));
      for (const r of racers) expect(await r.nextLine()).toBe("ready");
      for (const r of racers) {
        r.proc.stdin.write("go\n");
        r.proc.stdin.flush();
      }
      const lines = await Promise.all(racers.map((r) => r.nextLine()));
      expect(lines.filter((l) => l === "locked")).toHaveLength(1);
      const winner = racers[lines.indexOf("locked")]!.proc.pid;
      for (const l of lines.filter((l) => l !== "locked")) expect(l).toContain(`(pid ${winner})`);
      expect(holderOf(dir).pid).toBe(winner);
      for (const r of racers) r.proc.kill("SIGKILL");
      await Promise.all(racers.map((r) => r.proc.exited));
    }
  });
});
