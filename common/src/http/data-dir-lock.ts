/**
 * One standalone process per data directory: `DATA_DIR/LOCK` holds the owner's pid and start time.
 * A live owner makes lockDataDir throw, naming the directory and the pid; a dead one's lock (killed,
 * crashed, or a container restarted with its pid now someone else's) is taken over. The lock is
 * removed on release() or on process exit; a SIGKILL leaves it stale, which the next start takes over.
 *
 * Where the C library can be loaded (Linux, macOS) the owner also holds an flock(2) on LOCK for its
 * whole life: the kernel drops it when the process dies, so "is the owner alive" is the kernel's answer
 * and racers for a stale lock cannot both win. The pid inside then only names the owner (and keeps a
 * live owner of an older build, which held no flock, safe). Elsewhere: create by hard link, take a stale
 * lock over by renaming it aside. Liveness is this host's only: hosts sharing a network directory are not detected.
 */
import { dlopen, FFIType } from "bun:ffi";
import { closeSync, constants, fstatSync, ftruncateSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";

export class DataDirLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      pid === process.pid
        ? `data directory ${dir} is already locked by this process (pid ${pid})`
        : `data directory ${dir} is in use by another process (pid ${pid}); stop it or use another data directory`,
    );
    this.name = "DataDirLockedError";
  }
}

export interface DataDirLock {
  readonly path: string;
  /** Removes the lock if it is still ours; idempotent. */
  release(): void;
}

interface Holder {
  pid: number;
  start: string | null;
}

/** Locks this process holds, by LOCK path: our own pid in a LOCK file we do not hold is a previous life's. */
const held = new Set<string>();

export function lockDataDir(dir: string): DataDirLock {
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true });
  const path = join(abs, "LOCK");
  if (held.has(path)) throw new DataDirLockedError(abs, process.pid);
  const mine = JSON.stringify({ pid: process.pid, start: startTime(process.pid) } satisfies Holder) + "\n";
  const flock = loadFlock();
  return flock ? lockWithFlock(flock, abs, path, mine) : lockByLink(abs, path, mine);
}

const LOCK_EX = 2;
const LOCK_NB = 4;
type Flock = (fd: number, op: number) => number;
let flockFn: Flock | null | undefined;

function loadFlock(): Flock | null {
  if (flockFn !== undefined) return flockFn;
  const libc = process.platform === "linux" ? "libc.so.6" : process.platform === "darwin" ? "libc.dylib" : null;
  try {
    const lib = libc ? dlopen(libc, { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } }) : null;
    flockFn = lib ? (fd, op) => lib.symbols.flock(fd, op) : null;
  } catch {
    flockFn = null;
  }
  return flockFn;
}

function lockWithFlock(flock: Flock, abs: string, path: string, mine: string): DataDirLock {
  for (let attempt = 0; attempt < 10; attempt++) {
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
      closeSync(fd);
      throw new DataDirLockedError(abs, ownerPid(path));
    }
    // Released (unlinked) between our open and our flock: what we hold is not LOCK any more.
    if (!sameFile(fd, path)) {
      closeSync(fd);
      continue;
    }
    const holder = parse(readOrNull(path) ?? "");
    if (holder && isAlive(holder)) {
      closeSync(fd); // a live owner of a build that held no flock
      throw new DataDirLockedError(abs, holder.pid);
    }
    ftruncateSync(fd, 0);
    writeSync(fd, mine, 0);
    return own(path, mine, fd);
  }
  throw new Error(`could not lock data directory ${abs}: its LOCK file keeps changing`);
}

/** The flock holder's pid: it writes it right after taking the lock, so a stale one may still be there for a moment. */
function ownerPid(path: string): number {
  let pid = 0;
  for (let i = 0; i < 100; i++) {
    const h = parse(readOrNull(path) ?? "");
    if (h) pid = h.pid;
    if (h && isAlive(h)) return h.pid;
    Bun.sleepSync(2);
  }
  return pid;
}

function sameFile(fd: number, path: string): boolean {
  try {
    return fstatSync(fd).ino === statSync(path).ino;
  } catch {
    return false;
  }
}

function lockByLink(abs: string, path: string, mine: string): DataDirLock {
  for (let attempt = 0; attempt < 10; attempt++) {
    if (create(path, mine)) return own(path, mine);
    const raw = readOrNull(path);
    if (raw === null) continue; // released between our create and our read
    const holder = parse(raw);
    if (holder && isAlive(holder)) throw new DataDirLockedError(abs, holder.pid);
    takeOver(path, raw);
  }
  throw new Error(`could not lock data directory ${abs}: its LOCK file keeps changing`);
}

function own(path: string, mine: string, fd?: number): DataDirLock {
  held.add(path);
  const release = () => {
    if (!held.delete(path)) return;
    process.off("exit", release);
    // Unlinked while still flocked: whoever opened it meanwhile finds it is no longer LOCK (sameFile).
    if (readOrNull(path) === mine) unlinkSync(path);
    if (fd !== undefined) closeSync(fd); // drops the flock
  };
  process.on("exit", release);
  return { path, release };
}

/** Creates LOCK with its whole content at once (write aside, then hard-link: fails if LOCK exists). */
function create(path: string, content: string): boolean {
  const tmp = `${path}.${process.pid}.${crypto.randomUUID()}`;
  writeFileSync(tmp, content, { mode: 0o644 });
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if (code(err) === "EEXIST") return false;
    if (code(err) !== "EPERM" && code(err) !== "ENOTSUP" && code(err) !== "EOPNOTSUPP") throw err;
    return createExclusive(path, content); // a filesystem without hard links
  } finally {
    unlinkSync(tmp);
  }
}

function createExclusive(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o644);
  } catch (err) {
    if (code(err) === "EEXIST") return false;
    throw err;
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Removes the stale LOCK whose content we read, and only that one: it is renamed aside atomically,
 * and if what we moved is not what we judged stale (another process took over in between), it is
 * linked back, so two processes taking over at once cannot both succeed.
 */
function takeOver(path: string, staleRaw: string): void {
  const aside = `${path}.stale.${process.pid}.${crypto.randomUUID()}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if (code(err) === "ENOENT") return;
    throw err;
  }
  try {
    if (readOrNull(aside) !== staleRaw) {
      try {
        linkSync(aside, path);
      } catch {
        // LOCK was recreated meanwhile by a third process: it is the owner now
      }
    }
  } finally {
    unlinkSync(aside);
  }
}

function parse(raw: string): Holder | null {
  try {
    const v = JSON.parse(raw) as Partial<Holder>;
    if (typeof v.pid !== "number" || !Number.isInteger(v.pid) || v.pid <= 0) return null;
    return { pid: v.pid, start: typeof v.start === "string" ? v.start : null };
  } catch {
    return null;
  }
}

function isAlive(h: Holder): boolean {
  if (h.pid === process.pid) return false; // we are alive, but we do not hold it: an earlier process with our pid did
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if (code(err) !== "EPERM") return false; // ESRCH: no such process
  }
  const start = startTime(h.pid);
  if (start === "zombie") return false;
  return h.start === null || start === null || start === h.start; // a different start time: the pid was reused
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), "zombie", or null off Linux. */
function startTime(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return "zombie";
  return fields[19] ?? null;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if (code(err) === "ENOENT") return null;
    throw err;
  }
}

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;
