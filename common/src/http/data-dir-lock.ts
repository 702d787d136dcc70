/**
 * One standalone process per data directory: `DATA_DIR/LOCK` holds the owner's pid and start time.
 * A live owner makes lockDataDir throw, naming the directory and the pid; a dead one's lock (killed,
 * crashed, or a container restarted with its pid now someone else's) is taken over. The lock is
 * removed on release() or on process exit; a SIGKILL leaves it stale, which the next start takes over.
 * Liveness is checked on this host only: two hosts sharing a network directory are not detected.
 */
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
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

function own(path: string, mine: string): DataDirLock {
  held.add(path);
  const release = () => {
    if (!held.delete(path)) return;
    process.off("exit", release);
    if (readOrNull(path) === mine) unlinkSync(path);
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
