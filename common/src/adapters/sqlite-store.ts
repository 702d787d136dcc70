import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../errors";
import { type LifecycleEntry, type MessageInfo } from "../lifecycle";
import { planBatch, type Sequenced } from "../lifecycle-apply";
import { clientMsgKey, type MessageView, type StoredMessage } from "../message";
import type { ClientMessageRef, MessageStore, ReplayItem, StoreEntry, SyncOptions, TeamQuery, TeamStore, UnreadInfo } from "../ports";
import type { MemberRole, RowWrite, Team } from "../teams";

import { startCheckpointer, type Checkpointer } from "./sqlite-checkpointer";
import { fromRow, summaryOf, viewOf, type MsgRow } from "./sqlite-rows";
import { loadBatchState, writeBatchState } from "./sqlite-batch";
type Row = { doc: string };
/** Claims deleted per statement when pruning. */
const PRUNE_PAGE = 1000;

/**
 * The standalone database: teams, membership rows and messages in one SQLite file under DATA_DIR.
 * One class for the two ports over one connection (~390 lines, mostly the schema, its migrations
 * and one short method per port operation); rows are mapped in sqlite-rows.ts and batches written in
 * sqlite-batch.ts. Splitting the TeamStore half out is the next cut if it grows.
 */
export class SqliteStore implements TeamStore, MessageStore {
  readonly db: Database;
  private readonly checkpointer: Checkpointer;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.db = new Database(join(dir, "chat.db"), { create: true, strict: true });
    this.db.run("PRAGMA journal_mode=WAL");
    this.db.run("PRAGMA synchronous=NORMAL");
    this.db.run("PRAGMA busy_timeout=5000");
    // Checkpoints (the only fsyncs at synchronous=NORMAL) run on a thread of their own, never inside a commit here.
    this.db.run("PRAGMA wal_autocheckpoint=0");
    this.checkpointer = startCheckpointer(join(dir, "chat.db"));
    this.db.run(`CREATE TABLE IF NOT EXISTS teams (
      id TEXT PRIMARY KEY, version INTEGER NOT NULL, active INTEGER NOT NULL, name_lower TEXT NOT NULL, doc TEXT NOT NULL)`);
    // One row per (team, user): role user | admin | none (a tombstone), and the team version that wrote it.
    this.db.run(`CREATE TABLE IF NOT EXISTS memberships (
      team_id TEXT NOT NULL, user TEXT NOT NULL, role TEXT NOT NULL, v INTEGER NOT NULL, PRIMARY KEY (team_id, user)) WITHOUT ROWID`);
    this.db.run("CREATE INDEX IF NOT EXISTS memberships_user ON memberships (user, team_id)");
    this.db.run("CREATE TABLE IF NOT EXISTS team_tags (tag TEXT NOT NULL, team_id TEXT NOT NULL, PRIMARY KEY (tag, team_id)) WITHOUT ROWID");
    this.db.run(`CREATE TABLE IF NOT EXISTS messages (
      id TEXT PRIMARY KEY, channel_id TEXT NOT NULL, seq INTEGER NOT NULL, to_user TEXT NOT NULL, from_user TEXT NOT NULL,
      type TEXT NOT NULL, data TEXT NOT NULL, ts TEXT NOT NULL, client_msg_id TEXT)`);
    this.db.run("CREATE INDEX IF NOT EXISTS messages_channel_seq ON messages (channel_id, seq)");
    this.migrateLifecycle();
    this.migrateMembers();
    // client_msg_id claims: the first id stored under a key wins, for as long as the claim is kept.
    this.db.run(`CREATE TABLE IF NOT EXISTS client_msgs (
      channel_id TEXT NOT NULL, from_user TEXT NOT NULL, client_msg_id TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, ts TEXT NOT NULL,
      PRIMARY KEY (channel_id, from_user, client_msg_id)) WITHOUT ROWID`);
    this.db.run("CREATE INDEX IF NOT EXISTS client_msgs_ts ON client_msgs (ts)");
  }

  /**
   * Message lifecycle state. Columns are added to a `messages` table of an older data directory; a
   * deleted message keeps its row with `data` emptied (the column predates the lifecycle as NOT NULL).
   */
  private migrateLifecycle(): void {
    const have = new Set(this.db.query<{ name: string }, []>("PRAGMA table_info(messages)").all().map((c) => c.name));
    const columns: [string, string][] = [
      ["reply_to", "TEXT"],
      ["edited_at", "TEXT"],
      ["edited_seq", "INTEGER NOT NULL DEFAULT 0"],
      ["deleted", "INTEGER NOT NULL DEFAULT 0"],
      ["deleted_seq", "INTEGER NOT NULL DEFAULT 0"],
      ["deleted_by", "TEXT"],
      ["reply_count", "INTEGER NOT NULL DEFAULT 0"],
      ["last_reply_seq", "INTEGER NOT NULL DEFAULT 0"],
      ["reactions", "TEXT"],
    ];
    for (const [name, type] of columns) if (!have.has(name)) this.db.run(`ALTER TABLE messages ADD COLUMN ${name} ${type}`);
    // Partial: most messages are never edited or deleted, and a full index wrote a page for each of
    // them on insert (two of the seven pages a message's commit wrote). Queries say `edited_seq > 0`.
    this.db.run("DROP INDEX IF EXISTS messages_channel_edited");
    this.db.run("DROP INDEX IF EXISTS messages_channel_deleted");
    this.db.run("CREATE INDEX IF NOT EXISTS messages_edited ON messages (channel_id, edited_seq) WHERE edited_seq > 0");
    this.db.run("CREATE INDEX IF NOT EXISTS messages_deleted ON messages (channel_id, deleted_seq) WHERE deleted_seq > 0");
    this.db.run("CREATE INDEX IF NOT EXISTS messages_reply_to ON messages (reply_to, seq) WHERE reply_to IS NOT NULL");
    this.db.run(`CREATE TABLE IF NOT EXISTS reactions (
      message_id TEXT NOT NULL, user TEXT NOT NULL, emoji TEXT NOT NULL, channel_id TEXT NOT NULL,
      on_ INTEGER NOT NULL, seq INTEGER NOT NULL, to_user TEXT NOT NULL, author TEXT NOT NULL,
      PRIMARY KEY (message_id, user, emoji)) WITHOUT ROWID`);
    this.db.run("CREATE INDEX IF NOT EXISTS reactions_channel_seq ON reactions (channel_id, seq)");
    this.db.run(`CREATE TABLE IF NOT EXISTS reads (
      channel_id TEXT NOT NULL, user TEXT NOT NULL, seq INTEGER NOT NULL, event_seq INTEGER NOT NULL,
      PRIMARY KEY (channel_id, user)) WITHOUT ROWID`);
    this.db.run("CREATE INDEX IF NOT EXISTS reads_channel_event ON reads (channel_id, event_seq)");
  }

  /**
   * A data directory of the previous layout keeps each team's members and admins in its document
   * (and a `team_members` index table): once, at startup, in one transaction, they become rows.
   */
  private migrateMembers(): void {
    const old = this.db.query<{ id: string; doc: string }, []>("SELECT id, doc FROM teams WHERE json_type(doc, '$.members') = 'array'").all();
    this.db.transaction(() => {
      const row = this.db.query("INSERT INTO memberships (team_id, user, role, v) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
      const doc = this.db.query("UPDATE teams SET doc = ? WHERE id = ?");
      for (const r of old) {
        const { members, admins, ...header } = JSON.parse(r.doc) as Team & { members: string[]; admins: string[] };
        const isAdmin = new Set(admins);
        const unique = [...new Set(members)];
        for (const u of unique) row.run(r.id, u, isAdmin.has(u) ? "admin" : "user", header.version);
        doc.run(JSON.stringify({ ...header, member_count: unique.length }), r.id);
      }
      this.db.run("DROP TABLE IF EXISTS team_members");
    })();
  }

  private writeTags(team: Team): void {
    this.db.query("DELETE FROM team_tags WHERE team_id = ?").run(team.id);
    const t = this.db.query("INSERT INTO team_tags (tag, team_id) VALUES (?, ?)");
    for (const tag of team.meta_tags) t.run(tag, team.id);
  }

  async create(team: Team): Promise<void> {
    this.db.transaction(() => {
      const r = this.db
        .query("INSERT OR IGNORE INTO teams (id, version, active, name_lower, doc) VALUES (?, ?, ?, ?, ?)")
        .run(team.id, team.version, team.active ? 1 : 0, team.name.toLowerCase(), JSON.stringify(team));
      if (r.changes !== 1) throw new AppError("conflict", "team id exists");
      this.writeTags(team);
    })();
  }

  async get(id: string): Promise<Team | null> {
    const row = this.db.query<Row, [string]>("SELECT doc FROM teams WHERE id = ?").get(id);
    return row ? (JSON.parse(row.doc) as Team) : null;
  }

  async commit(team: Team, expectedVersion: number): Promise<boolean> {
    return this.db.transaction(() => {
      const r = this.db
        .query("UPDATE teams SET version = ?, active = ?, name_lower = ?, doc = ? WHERE id = ? AND version = ?")
        .run(team.version, team.active ? 1 : 0, team.name.toLowerCase(), JSON.stringify(team), team.id, expectedVersion);
      if (r.changes !== 1) return false;
      this.writeTags(team);
      return true;
    })();
  }

  async clearPending(id: string, version: number): Promise<void> {
    this.db.query("UPDATE teams SET doc = json_remove(doc, '$.pending') WHERE id = ? AND version = ? AND json_type(doc, '$.pending') IS NOT NULL").run(id, version);
  }

  async writeRows(teamId: string, stamp: number, rows: RowWrite[]): Promise<void> {
    const q = this.db.query(
      `INSERT INTO memberships (team_id, user, role, v) VALUES (?, ?, ?, ?)
       ON CONFLICT (team_id, user) DO UPDATE SET role = excluded.role, v = excluded.v WHERE excluded.v > memberships.v`,
    );
    this.db.transaction(() => {
      for (const r of rows) q.run(teamId, r.user, r.role, stamp);
    })();
  }

  async rowsOf(teamId: string, users: string[]): Promise<Map<string, MemberRole | "none">> {
    const q = this.db.query<{ role: MemberRole | "none" }, [string, string]>("SELECT role FROM memberships WHERE team_id = ? AND user = ?");
    const out = new Map<string, MemberRole | "none">();
    for (const u of users) {
      const r = q.get(teamId, u);
      if (r) out.set(u, r.role);
    }
    return out;
  }

  async memberRows(teamId: string, after: string | undefined, limit: number): Promise<{ user: string; role: MemberRole }[]> {
    return this.db
      .query<{ user: string; role: MemberRole }, [string, string, number]>(
        "SELECT user, role FROM memberships WHERE team_id = ? AND user > ? AND role != 'none' ORDER BY user LIMIT ?",
      )
      .all(teamId, after ?? "", limit);
  }

  async listForUser(user: string, query: TeamQuery): Promise<Team[]> {
    // Fixed SQL with bound parameters; the name filter is a LIKE with its wildcards escaped.
    const like = query.q ? `%${query.q.toLowerCase().replace(/[\\%_]/g, (c) => "\\" + c)}%` : null;
    const rows = this.db
      .query<Row, [string, string, string | null, string | null, string | null, string | null, number]>(
        `SELECT t.doc FROM memberships m JOIN teams t ON t.id = m.team_id
         WHERE m.user = ? AND m.role != 'none' AND m.team_id > ?
           AND (? IS NULL OR t.name_lower LIKE ? ESCAPE '\\')
           AND (? IS NULL OR EXISTS (SELECT 1 FROM team_tags g WHERE g.tag = ? AND g.team_id = t.id))
         ORDER BY m.team_id LIMIT ?`,
      )
      .all(user, query.after ?? "", like, like, query.tag ?? null, query.tag ?? null, query.limit);
    return rows.map((r) => JSON.parse(r.doc) as Team);
  }

  async channelsOf(user: string): Promise<string[]> {
    return this.db
      .query<{ id: string }, [string]>(
        "SELECT t.id FROM memberships m JOIN teams t ON t.id = m.team_id WHERE m.user = ? AND m.role != 'none' AND t.active = 1 ORDER BY t.id",
      )
      .all(user)
      .map((r) => r.id);
  }

  async insertMany(messages: StoredMessage[]): Promise<void> {
    this.db.transaction(() => this.insertRows(messages))();
  }

  private insertRows(messages: StoredMessage[]): void {
    const stmt = this.db.query(
      "INSERT OR IGNORE INTO messages (id, channel_id, seq, to_user, from_user, type, data, ts, client_msg_id, reply_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    for (const m of messages) stmt.run(m.id, m.channel_id, m.seq, m.to, m.from, m.type, m.data, m.ts, m.client_msg_id ?? null, m.reply_to ?? null);
  }

  async applyBatch(batch: Sequenced<StoreEntry>[]): Promise<(StoreEntry | null)[]> {
    return this.db.transaction(() => {
      const messages: StoredMessage[] = [];
      const lifecycle: Sequenced<LifecycleEntry>[] = [];
      const claim = this.db.query(
        "INSERT INTO client_msgs (channel_id, from_user, client_msg_id, id, seq, ts) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
      );
      const claimed = this.db.query<{ id: string }, [string, string, string]>("SELECT id FROM client_msgs WHERE channel_id = ? AND from_user = ? AND client_msg_id = ?");
      const resends = new Set<StoreEntry>();
      for (const { seq, entry } of batch) {
        if (entry.kind === "message") {
          // In log order, so a resend later in this very batch finds the claim of the first one.
          if (entry.client_msg_id && claim.run(entry.channel_id, entry.from, entry.client_msg_id, entry.id, seq, entry.ts).changes === 0) {
            if (claimed.get(entry.channel_id, entry.from, entry.client_msg_id)?.id !== entry.id) {
              resends.add(entry);
              continue;
            }
          }
          const { kind: _k, ...m } = entry;
          messages.push({ ...m, seq });
        } else lifecycle.push({ seq, entry });
      }
      this.insertRows(messages);
      const effective = new Map<Sequenced<LifecycleEntry>, LifecycleEntry | null>();
      if (lifecycle.length) {
        const state = loadBatchState(this.db, lifecycle);
        const plan = planBatch(lifecycle, state);
        lifecycle.forEach((l, i) => effective.set(l, plan.effective[i]!));
        writeBatchState(this.db, state, plan.dirty);
      }
      const roots = new Set(messages.flatMap((m) => (m.reply_to ? [m.reply_to] : [])));
      const recount = this.db.query(
        `UPDATE messages SET reply_count = (SELECT COUNT(*) FROM messages r WHERE r.reply_to = ?1),
           last_reply_seq = COALESCE((SELECT MAX(seq) FROM messages r WHERE r.reply_to = ?1), 0) WHERE id = ?1`,
      );
      for (const root of roots) recount.run(root);
      let i = 0;
      return batch.map(({ entry }) => (entry.kind === "message" ? (resends.has(entry) ? null : entry) : (effective.get(lifecycle[i++]!) ?? null)));
    })();
  }

  async lookupClientMessage(channelId: string, from: string, clientMsgId: string): Promise<ClientMessageRef | null> {
    return (
      this.db
        .query<ClientMessageRef, [string, string, string]>("SELECT id, seq, ts FROM client_msgs WHERE channel_id = ? AND from_user = ? AND client_msg_id = ?")
        .get(channelId, from, clientMsgId) ?? null
    );
  }

  /** Everything before `before`, PRUNE_PAGE rows per statement with a turn of the event loop between (it serves sockets in standalone). */
  async pruneClientMessages(before: Date, _since: Date): Promise<number> {
    const page = this.db.query(
      `DELETE FROM client_msgs WHERE (channel_id, from_user, client_msg_id) IN
         (SELECT channel_id, from_user, client_msg_id FROM client_msgs WHERE ts < ? ORDER BY ts LIMIT ?)`,
    );
    let deleted = 0;
    for (;;) {
      const n = page.run(before.toISOString(), PRUNE_PAGE).changes;
      deleted += n;
      if (n < PRUNE_PAGE) return deleted;
      await new Promise((r) => setImmediate(r));
    }
  }

  async claimsSince(since: Date, limit: number): Promise<string[]> {
    return this.db
      .query<{ c: string; f: string; k: string }, [string, number]>("SELECT channel_id AS c, from_user AS f, client_msg_id AS k FROM client_msgs WHERE ts >= ? LIMIT ?")
      .all(since.toISOString(), limit)
      .map((r) => clientMsgKey(r.c, r.f, r.k));
  }

  async getMessage(channelId: string, id: string): Promise<MessageInfo | null> {
    const r = this.db.query<MsgRow, [string, string]>("SELECT * FROM messages WHERE id = ? AND channel_id = ?").get(id, channelId);
    if (!r) return null;
    const info: MessageInfo = {
      id: r.id,
      channel_id: r.channel_id,
      seq: r.seq,
      from: r.from_user,
      to: r.to_user,
      type: r.type as MessageInfo["type"],
      deleted: r.deleted === 1,
      emoji: summaryOf(r).map((x) => x.emoji),
    };
    if (r.reply_to) info.reply_to = r.reply_to;
    return info;
  }

  async history(channelId: string, viewer: string, opts: { before?: number; limit: number; thread?: string }): Promise<MessageView[]> {
    const thread = opts.thread ?? null;
    const rows = this.db
      .query<MsgRow, [string, number, string, string, string | null, string | null, string | null, number]>(
        `SELECT * FROM messages WHERE channel_id = ? AND seq < ? AND (to_user = '*' OR to_user = ? OR from_user = ?)
           AND (? IS NULL OR id = ? OR reply_to = ?)
         ORDER BY seq DESC LIMIT ?`,
      )
      .all(channelId, opts.before ?? Number.MAX_SAFE_INTEGER, viewer, viewer, thread, thread, thread, opts.limit);
    const mine = this.db.query<{ emoji: string }, [string, string]>("SELECT emoji FROM reactions WHERE message_id = ? AND user = ? AND on_ = 1");
    return rows.map((r) => viewOf(r, r.reactions ? new Set(mine.all(r.id, viewer).map((x) => x.emoji)) : undefined));
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

  async eventsSince(channelId: string, viewer: string | undefined, after: number, limit: number): Promise<ReplayItem[]> {
    const all = viewer === undefined ? 1 : 0;
    const v = viewer ?? "";
    const vis = "(?3 = 1 OR to_user = '*' OR to_user = ?4 OR from_user = ?4)";
    type P = [string, number, number, string, number];
    const args: P = [channelId, after, all, v, limit];
    const items: ReplayItem[] = [];
    for (const r of this.db.query<MsgRow, P>(`SELECT * FROM messages WHERE channel_id = ?1 AND seq > ?2 AND ${vis} ORDER BY seq LIMIT ?5`).all(...args))
      items.push({ seq: r.seq, message: viewOf(r) });
    const edited = this.db.query<MsgRow, P>(
      `SELECT * FROM messages WHERE channel_id = ?1 AND edited_seq > 0 AND edited_seq > ?2 AND seq <= ?2 AND deleted = 0 AND ${vis} ORDER BY edited_seq LIMIT ?5`,
    );
    for (const r of edited.all(...args))
      items.push({ seq: r.edited_seq, entry: { kind: "message_edited", channel_id: r.channel_id, id: r.id, data: r.data, edited_at: r.edited_at!, by: r.from_user, to: r.to_user, author: r.from_user } });
    const deleted = this.db.query<MsgRow, P>(`SELECT * FROM messages WHERE channel_id = ?1 AND deleted_seq > 0 AND deleted_seq > ?2 AND seq <= ?2 AND ${vis} ORDER BY deleted_seq LIMIT ?5`);
    for (const r of deleted.all(...args))
      items.push({ seq: r.deleted_seq, entry: { kind: "message_deleted", channel_id: r.channel_id, id: r.id, by: r.deleted_by ?? r.from_user, to: r.to_user, author: r.from_user, ts: "" } });
    const reactions = this.db.query<{ message_id: string; user: string; emoji: string; on_: number; seq: number; to_user: string; author: string }, P>(
      `SELECT r.message_id, r.user, r.emoji, r.on_, r.seq, r.to_user, r.author FROM reactions r JOIN messages m ON m.id = r.message_id
       WHERE r.channel_id = ?1 AND r.seq > ?2 AND m.deleted = 0 AND (?3 = 1 OR r.to_user = '*' OR r.to_user = ?4 OR r.author = ?4) ORDER BY r.seq LIMIT ?5`,
    );
    for (const r of reactions.all(...args))
      items.push({ seq: r.seq, entry: { kind: "reaction", channel_id: channelId, id: r.message_id, emoji: r.emoji, user: r.user, on: r.on_ === 1, to: r.to_user, author: r.author, ts: "" } });
    const reads = this.db.query<{ user: string; seq: number; event_seq: number }, P>(
      "SELECT user, seq, event_seq FROM reads WHERE channel_id = ?1 AND event_seq > ?2 AND (?3 = 1 OR user = ?4) ORDER BY event_seq LIMIT ?5",
    );
    for (const r of reads.all(...args)) items.push({ seq: r.event_seq, entry: { kind: "read", channel_id: channelId, user: r.user, seq: r.seq, ts: "" } });
    return items.sort((a, b) => a.seq - b.seq).slice(0, limit);
  }

  async unread(viewer: string, channelIds: string[]): Promise<UnreadInfo[]> {
    const marker = this.db.query<{ seq: number }, [string, string]>("SELECT seq FROM reads WHERE channel_id = ? AND user = ?");
    const last = this.db.query<{ seq: number }, [string, string, string]>(
      "SELECT seq FROM messages WHERE channel_id = ? AND (to_user = '*' OR to_user = ? OR from_user = ?) ORDER BY seq DESC LIMIT 1",
    );
    // An index range over (channel_id, seq > marker): never the whole channel.
    const count = this.db.query<{ n: number }, [string, number, string, string]>(
      "SELECT COUNT(*) AS n FROM messages WHERE channel_id = ? AND seq > ? AND from_user != ? AND (to_user = '*' OR to_user = ?) AND deleted = 0",
    );
    return channelIds.map((ch) => {
      const seq = marker.get(ch, viewer)?.seq ?? 0;
      return { channel_id: ch, last_seq: last.get(ch, viewer, viewer)?.seq ?? 0, last_read_seq: seq, unread: count.get(ch, seq, viewer, viewer)!.n };
    });
  }

  async readMarkers(channelId: string): Promise<{ user: string; seq: number }[]> {
    return this.db.query<{ user: string; seq: number }, [string]>("SELECT user, seq FROM reads WHERE channel_id = ? ORDER BY user").all(channelId);
  }

  async ping(): Promise<void> {
    this.db.query("SELECT 1").get();
    // Positions and REST answers wait for syncs: a store that can no longer sync is not ready.
    const failure = this.checkpointer.failure;
    if (failure) throw new AppError("unavailable", failure);
  }

  /** Commits here are not fsync'd (synchronous=NORMAL, so the event loop never waits for the disk): this fsyncs the WAL on the checkpoint thread. */
  synced(opts?: SyncOptions): Promise<void> {
    return this.checkpointer.sync(opts?.now ?? false);
  }

  async close(): Promise<void> {
    await this.checkpointer.close();
    this.db.close();
  }
}

