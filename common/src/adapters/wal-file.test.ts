import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WalFile } from "./wal-file";

test("a WAL is synced once there is one; before the first commit in WAL mode there is nothing to sync", () => {
  const path = join(mkdtempSync(join(tmpdir(), "chat-wal-")), "x.db");
  const wal = new WalFile(path);
  expect(wal.sync()).toBe(false);
  const db = new Database(path, { create: true });
  db.run("PRAGMA journal_mode=WAL");
  db.run("CREATE TABLE t (v TEXT)");
  db.run("INSERT INTO t VALUES ('a')");
  expect(wal.sync()).toBe(true);
  expect(wal.sync()).toBe(true); // the kept descriptor
  wal.close();
  db.close();
});
