import type { Database } from "bun:sqlite";

/**
 * An embedded log (embedded-log.ts) written before it assigned seqs itself has an AUTOINCREMENT
 * table: rebuilt without it, once, in one transaction (a copy of what the log still holds: about
 * `retain` entries behind the slowest consumer), its counter carried into the `reserved` bound so that no seq it handed out is given
 * again. No way back: an older build reading this log would take its (now empty) counter for the
 * last seq and could reuse seqs; keep a copy of the data directory before upgrading if you may need to.
 */
export function dropAutoincrement(db: Database): void {
  const sql = db.query<{ sql: string }, []>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'log'").get()?.sql ?? "";
  if (!/AUTOINCREMENT/i.test(sql)) return;
  db.transaction(() => {
    const counter = db.query<{ seq: number }, []>("SELECT seq FROM sqlite_sequence WHERE name = 'log'").get()?.seq ?? 0;
    db.run("CREATE TABLE log_new (seq INTEGER PRIMARY KEY, channel_id TEXT NOT NULL, value TEXT NOT NULL)");
    db.run("INSERT INTO log_new SELECT seq, channel_id, value FROM log ORDER BY seq");
    db.run("DROP TABLE log");
    db.run("ALTER TABLE log_new RENAME TO log");
    db.run("INSERT INTO reserved (k, seq) VALUES (0, ?) ON CONFLICT(k) DO UPDATE SET seq = MAX(seq, excluded.seq)", [counter]);
  })();
}
