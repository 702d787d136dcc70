import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../errors";
import type { StoredMessage } from "../message";
import type { MessageStore, TeamQuery, TeamStore } from "../ports";
import type { Team } from "../teams";

type Row = { doc: string };

/** The standalone database: teams and messages in one SQLite file under DATA_DIR. */
export class SqliteStore implements TeamStore, MessageStore {
  readonly db: Database;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.db = new Database(join(dir, "chat.db"), { create: true, strict: true });
    this.db.run("PRAGMA journal_mode=WAL");
    this.db.run("PRAGMA synchronous=NORMAL");
    this.db.run("PRAGMA busy_timeout=5000");
    this.db.run(`CREATE TABLE IF NOT EXISTS teams (
      id TEXT PRIMARY KEY, version INTEGER NOT NULL, active INTEGER NOT NULL, name_lower TEXT NOT NULL, doc TEXT NOT NULL)`);
    this.db.run("CREATE TABLE IF NOT EXISTS team_members (user TEXT NOT NULL, team_id TEXT NOT NULL, PRIMARY KEY (user, team_id)) WITHOUT ROWID");
    this.db.run("CREATE TABLE IF NOT EXISTS team_tags (tag TEXT NOT NULL, team_id TEXT NOT NULL, PRIMARY KEY (tag, team_id)) WITHOUT ROWID");
    this.db.run(`CREATE TABLE IF NOT EXISTS messages (
      id TEXT PRIMARY KEY, channel_id TEXT NOT NULL, seq INTEGER NOT NULL, to_user TEXT NOT NULL, from_user TEXT NOT NULL,
      type TEXT NOT NULL, data TEXT NOT NULL, ts TEXT NOT NULL, client_msg_id TEXT)`);
    this.db.run("CREATE INDEX IF NOT EXISTS messages_channel_seq ON messages (channel_id, seq)");
  }

  private writeIndexes(team: Team): void {
    this.db.query("DELETE FROM team_members WHERE team_id = ?").run(team.id);
    this.db.query("DELETE FROM team_tags WHERE team_id = ?").run(team.id);
    const m = this.db.query("INSERT INTO team_members (user, team_id) VALUES (?, ?)");
    for (const u of team.members) m.run(u, team.id);
    const t = this.db.query("INSERT INTO team_tags (tag, team_id) VALUES (?, ?)");
    for (const tag of team.meta_tags) t.run(tag, team.id);
  }

  async create(team: Team): Promise<void> {
    this.db.transaction(() => {
      const r = this.db
        .query("INSERT OR IGNORE INTO teams (id, version, active, name_lower, doc) VALUES (?, ?, ?, ?, ?)")
        .run(team.id, team.version, team.active ? 1 : 0, team.name.toLowerCase(), JSON.stringify(team));
      if (r.changes !== 1) throw new AppError("conflict", "team id exists");
      this.writeIndexes(team);
    })();
  }

  async get(id: string): Promise<Team | null> {
    const row = this.db.query<Row, [string]>("SELECT doc FROM teams WHERE id = ?").get(id);
    return row ? (JSON.parse(row.doc) as Team) : null;
  }

  async replace(team: Team, expectedVersion: number): Promise<boolean> {
    return this.db.transaction(() => {
      const r = this.db
        .query("UPDATE teams SET version = ?, active = ?, name_lower = ?, doc = ? WHERE id = ? AND version = ?")
        .run(team.version, team.active ? 1 : 0, team.name.toLowerCase(), JSON.stringify(team), team.id, expectedVersion);
      if (r.changes !== 1) return false;
      this.writeIndexes(team);
      return true;
    })();
  }

  async listForUser(user: string, query: TeamQuery): Promise<Team[]> {
    // Fixed SQL with bound parameters; the name filter is a LIKE with its wildcards escaped.
    const like = query.q ? `%${query.q.toLowerCase().replace(/[\\%_]/g, (c) => "\\" + c)}%` : null;
    const rows = this.db
      .query<Row, [string, string, string | null, string | null, string | null, string | null, number]>(
        `SELECT t.doc FROM team_members m JOIN teams t ON t.id = m.team_id
         WHERE m.user = ? AND m.team_id > ?
           AND (? IS NULL OR t.name_lower LIKE ? ESCAPE '\\')
           AND (? IS NULL OR EXISTS (SELECT 1 FROM team_tags g WHERE g.tag = ? AND g.team_id = t.id))
         ORDER BY m.team_id LIMIT ?`,
      )
      .all(user, query.after ?? "", like, like, query.tag ?? null, query.tag ?? null, query.limit);
    return rows.map((r) => JSON.parse(r.doc) as Team);
  }

  async channelsOf(user: string): Promise<string[]> {
    return this.db
      .query<{ id: string }, [string]>("SELECT t.id FROM team_members m JOIN teams t ON t.id = m.team_id WHERE m.user = ? AND t.active = 1 ORDER BY t.id")
      .all(user)
      .map((r) => r.id);
  }

  async insertMany(messages: StoredMessage[]): Promise<void> {
    const stmt = this.db.query(
      "INSERT OR IGNORE INTO messages (id, channel_id, seq, to_user, from_user, type, data, ts, client_msg_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.db.transaction(() => {
      for (const m of messages) stmt.run(m.id, m.channel_id, m.seq, m.to, m.from, m.type, m.data, m.ts, m.client_msg_id ?? null);
    })();
  }

  async history(channelId: string, viewer: string, opts: { before?: number; limit: number }): Promise<StoredMessage[]> {
    return this.db
      .query<MsgRow, [string, number, string, string, number]>(
        `SELECT * FROM messages WHERE channel_id = ? AND seq < ? AND (to_user = '*' OR to_user = ? OR from_user = ?)
         ORDER BY seq DESC LIMIT ?`,
      )
      .all(channelId, opts.before ?? Number.MAX_SAFE_INTEGER, viewer, viewer, opts.limit)
      .map(fromRow);
  }

  async since(channelId: string, viewer: string | undefined, after: number, limit: number): Promise<StoredMessage[]> {
    const all = viewer === undefined ? 1 : 0;
    const v = viewer ?? "";
    return this.db
      .query<MsgRow, [string, number, number, string, string, number]>(
        `SELECT * FROM messages WHERE channel_id = ? AND seq > ? AND (? = 1 OR to_user = '*' OR to_user = ? OR from_user = ?)
         ORDER BY seq ASC LIMIT ?`,
      )
      .all(channelId, after, all, v, v, limit)
      .map(fromRow);
  }

  async ping(): Promise<void> {
    this.db.query("SELECT 1").get();
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

type MsgRow = { id: string; channel_id: string; seq: number; to_user: string; from_user: string; type: string; data: string; ts: string; client_msg_id: string | null };
function fromRow(r: MsgRow): StoredMessage {
  const m: StoredMessage = { id: r.id, channel_id: r.channel_id, seq: r.seq, to: r.to_user, from: r.from_user, type: r.type as StoredMessage["type"], data: r.data, ts: r.ts };
  if (r.client_msg_id) m.client_msg_id = r.client_msg_id;
  return m;
}
