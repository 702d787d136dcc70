import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../errors";
import { batchKeys, planBatch, reactionKey, readKey, type BatchState, type LifecycleEntry, type MessageInfo, type MessageState, type ReactionCount, type Sequenced } from "../lifecycle";
import type { MessageView, StoredMessage } from "../message";
import type { ClientMessageRef, MessageStore, ReplayItem, StoreEntry, TeamQuery, TeamStore, UnreadInfo } from "../ports";
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
    this.migrateLifecycle();
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
    this.db.run("CREATE INDEX IF NOT EXISTS messages_channel_edited ON messages (channel_id, edited_seq)");
    this.db.run("CREATE INDEX IF NOT EXISTS messages_channel_deleted ON messages (channel_id, deleted_seq)");
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
        const state = this.loadBatchState(lifecycle);
        const plan = planBatch(lifecycle, state);
        lifecycle.forEach((l, i) => effective.set(l, plan.effective[i]!));
        this.writeBatchState(state, plan.dirty);
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

  async pruneClientMessages(before: Date): Promise<number> {
    return this.db.query("DELETE FROM client_msgs WHERE ts < ?").run(before.toISOString()).changes;
  }

  private loadBatchState(entries: Sequenced<LifecycleEntry>[]): BatchState {
    const keys = batchKeys(entries);
    const state: BatchState = { messages: new Map(), reactions: new Map(), reads: new Map() };
    const msg = this.db.query<MsgRow, [string]>("SELECT * FROM messages WHERE id = ?");
    for (const id of keys.messageIds) {
      const r = msg.get(id);
      if (r) state.messages.set(id, stateOf(r));
    }
    // Reaction counts from the rows themselves: a summary left stale by a crash is rebuilt, not trusted.
    const counts = this.db.query<{ emoji: string; count: number }, [string]>(
      "SELECT emoji, COUNT(*) AS count FROM reactions WHERE message_id = ? AND on_ = 1 GROUP BY emoji ORDER BY MIN(seq), emoji",
    );
    for (const id of keys.reactedIds) {
      const m = state.messages.get(id);
      if (m) m.reactions = counts.all(id);
    }
    const reaction = this.db.query<{ on_: number; seq: number }, [string, string, string]>("SELECT on_, seq FROM reactions WHERE message_id = ? AND user = ? AND emoji = ?");
    for (const k of keys.reactions) {
      const r = reaction.get(k.id, k.user, k.emoji);
      if (r) state.reactions.set(reactionKey(k.id, k.user, k.emoji), { on: r.on_ === 1, seq: r.seq });
    }
    const read = this.db.query<{ seq: number; event_seq: number }, [string, string]>("SELECT seq, event_seq FROM reads WHERE channel_id = ? AND user = ?");
    for (const k of keys.reads) {
      const r = read.get(k.channel_id, k.user);
      if (r) state.reads.set(readKey(k.channel_id, k.user), r);
    }
    return state;
  }

  private writeBatchState(state: BatchState, dirty: ReturnType<typeof planBatch>["dirty"]): void {
    const msg = this.db.query(
      "UPDATE messages SET data = ?, edited_at = ?, edited_seq = ?, deleted = ?, deleted_seq = ?, deleted_by = ?, reactions = ? WHERE id = ?",
    );
    for (const id of dirty.messages) {
      const m = state.messages.get(id)!;
      const reactions = m.deleted || m.reactions.length === 0 ? null : JSON.stringify(m.reactions);
      msg.run(m.deleted ? "" : (m.data ?? ""), m.edited_at ?? null, m.edited_seq, m.deleted ? 1 : 0, m.deleted_seq, m.deleted_by ?? null, reactions, id);
    }
    const reaction = this.db.query(
      `INSERT INTO reactions (message_id, user, emoji, channel_id, on_, seq, to_user, author) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (message_id, user, emoji) DO UPDATE SET on_ = excluded.on_, seq = excluded.seq WHERE excluded.seq > reactions.seq`,
    );
    for (const key of dirty.reactions) {
      const [id, user, emoji] = JSON.parse(key) as [string, string, string];
      const r = state.reactions.get(key)!;
      const m = state.messages.get(id)!;
      reaction.run(id, user, emoji, m.channel_id, r.on ? 1 : 0, r.seq, m.to, m.from);
    }
    const read = this.db.query(
      `INSERT INTO reads (channel_id, user, seq, event_seq) VALUES (?, ?, ?, ?)
       ON CONFLICT (channel_id, user) DO UPDATE SET seq = excluded.seq, event_seq = excluded.event_seq WHERE excluded.event_seq > reads.event_seq`,
    );
    for (const key of dirty.reads) {
      const [channel, user] = JSON.parse(key) as [string, string];
      const r = state.reads.get(key)!;
      read.run(channel, user, r.seq, r.event_seq);
    }
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
      `SELECT * FROM messages WHERE channel_id = ?1 AND edited_seq > ?2 AND seq <= ?2 AND deleted = 0 AND ${vis} ORDER BY edited_seq LIMIT ?5`,
    );
    for (const r of edited.all(...args))
      items.push({ seq: r.edited_seq, entry: { kind: "message_edited", channel_id: r.channel_id, id: r.id, data: r.data, edited_at: r.edited_at!, by: r.from_user, to: r.to_user, author: r.from_user } });
    const deleted = this.db.query<MsgRow, P>(`SELECT * FROM messages WHERE channel_id = ?1 AND deleted_seq > ?2 AND seq <= ?2 AND ${vis} ORDER BY deleted_seq LIMIT ?5`);
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
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

type MsgRow = {
  id: string;
  channel_id: string;
  seq: number;
  to_user: string;
  from_user: string;
  type: string;
  data: string;
  ts: string;
  client_msg_id: string | null;
  reply_to: string | null;
  edited_at: string | null;
  edited_seq: number;
  deleted: number;
  deleted_seq: number;
  deleted_by: string | null;
  reply_count: number;
  last_reply_seq: number;
  reactions: string | null;
};
function fromRow(r: MsgRow): StoredMessage {
  const m: StoredMessage = { id: r.id, channel_id: r.channel_id, seq: r.seq, to: r.to_user, from: r.from_user, type: r.type as StoredMessage["type"], data: r.data, ts: r.ts };
  if (r.client_msg_id) m.client_msg_id = r.client_msg_id;
  if (r.reply_to) m.reply_to = r.reply_to;
  return m;
}
const summaryOf = (r: MsgRow): ReactionCount[] => (r.reactions ? (JSON.parse(r.reactions) as ReactionCount[]) : []);

/** The current state of a message for `viewer` (`mine`: the emoji they reacted with; omitted on resume). */
function viewOf(r: MsgRow, mine?: Set<string>): MessageView {
  const { data, ...base } = fromRow(r);
  const v: MessageView = base;
  if (r.deleted) v.deleted = true;
  else {
    v.data = data;
    if (r.edited_at) v.edited_at = r.edited_at;
    const reactions = summaryOf(r);
    if (reactions.length) v.reactions = reactions.map((x) => ({ ...x, me: mine?.has(x.emoji) ?? false }));
  }
  if (r.reply_count > 0) {
    v.reply_count = r.reply_count;
    v.last_reply_seq = r.last_reply_seq;
  }
  return v;
}

function stateOf(r: MsgRow): MessageState {
  const m: MessageState = {
    id: r.id,
    channel_id: r.channel_id,
    from: r.from_user,
    to: r.to_user,
    type: r.type as MessageState["type"],
    deleted: r.deleted === 1,
    edited_seq: r.edited_seq,
    deleted_seq: r.deleted_seq,
    reactions: summaryOf(r),
  };
  if (!m.deleted) m.data = r.data;
  if (r.edited_at) m.edited_at = r.edited_at;
  if (r.deleted_by) m.deleted_by = r.deleted_by;
  return m;
}
