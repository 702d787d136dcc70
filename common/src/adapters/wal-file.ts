import { closeSync, fdatasyncSync, fsyncSync, openSync } from "node:fs";
import { dirname } from "node:path";

/**
 * A SQLite database's WAL, synced from outside SQLite (its connections commit at synchronous=NORMAL):
 * an fdatasync makes every commit written before it durable, whoever wrote it. The descriptor is
 * opened once and kept: a write-back error is reported once per open file, so a fresh one could miss
 * it; and the WAL stays one file while any connection is open (SQLite deletes it only when the last
 * one closes; checkpoints restart it in place). The first sync also syncs the directory entry of the
 * WAL, as SQLite itself does for a new WAL at synchronous=FULL.
 */
export class WalFile {
  private fd: number | undefined;
  private dirSynced = false;

  constructor(private readonly dbPath: string) {}

  /** Syncs the WAL; false if there is none yet (nothing committed in WAL mode), throws if the sync fails. */
  sync(): boolean {
    if (this.fd === undefined) {
      try {
        this.fd = openSync(`${this.dbPath}-wal`, "r");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
        throw err;
      }
    }
    fdatasyncSync(this.fd);
    if (!this.dirSynced) {
      const dir = openSync(dirname(this.dbPath), "r");
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
      this.dirSynced = true;
    }
    return true;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
