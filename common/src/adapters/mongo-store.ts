import {
  MongoBulkWriteError,
  MongoClient,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  ObjectId,
  type AnyBulkWriteOperation,
  type Collection,
  type Db,
  type Filter,
  type MongoClientOptions,
} from "mongodb";
import type { Config } from "../config";
import { AppError } from "../errors";
import { isObjectId } from "../ids";
import type { Logger } from "../log";
import { batchKeys, isEmoji, planBatch, reactionKey, readKey, type BatchState, type LifecycleEntry, type MessageInfo, type MessageState, type ReactionCount, type Sequenced } from "../lifecycle";
import type { MessageType, MessageView, StoredMessage } from "../message";
import type { ClientMessageRef, MessageStore, ReplayItem, StoreEntry, TeamQuery, TeamStore, UnreadInfo } from "../ports";
import type { Team } from "../teams";

export type MongoConfig = NonNullable<Config["mongo"]>;

/** A Team as stored: `_id` an ObjectId, `doc` a Date. */
type TeamDoc = Omit<Team, "id" | "doc"> & { _id: ObjectId; doc: Date };

interface MessageDoc {
  _id: ObjectId;
  channel_id: string;
  seq: number;
  to: string;
  from: string;
  type: MessageType;
  /** Absent once the message is deleted. */
  data?: string;
  ts: Date;
  client_msg_id?: string;
  /** Lifecycle state; each field is absent until it says something. */
  reply_to?: ObjectId;
  edited_at?: Date;
  edited_seq?: number;
  deleted?: boolean;
  deleted_seq?: number;
  deleted_by?: string;
  reply_count?: number;
  last_reply_seq?: number;
  /** Emoji with at least one reaction, oldest first: rewritten from the reaction rows of each batch that touches them. */
  reactions?: ReactionCount[];
}

/** One user's reaction with one emoji; `_id` is the (message, user, emoji) key, so upserts are idempotent. */
interface ReactionDoc {
  _id: string;
  channel_id: string;
  message_id: ObjectId;
  user: string;
  emoji: string;
  on: boolean;
  seq: number;
  /** The message's audience, so resume filters DMs without a join. */
  to: string;
  author: string;
}

/** One user's read marker in one team; `_id` is the (team, user) key. */
interface ReadDoc {
  _id: string;
  channel_id: string;
  user: string;
  seq: number;
  event_seq: number;
}

/** A client_msg_id claim: `_id` is the (channel, sender, client_msg_id) key; the first message id stored under it wins. */
interface ClientMsgDoc {
  _id: string;
  id: string;
  seq: number;
  ts: Date;
}
const clientMsgKey = (channelId: string, from: string, clientMsgId: string) => JSON.stringify([channelId, from, clientMsgId]);

const DUPLICATE_KEY = 11000;

// Every value that reaches a filter passes one of these: a caller's object (`{ $ne: 1 }`)
// must never become a query operator.
const invalid = (what: string, expected: string) => new AppError("validation", `${what} must be ${expected}`);
function str(v: unknown, what: string): string {
  if (typeof v !== "string") throw invalid(what, "a string");
  return v;
}
function int(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw invalid(what, "an integer");
  return v;
}
function oid(v: unknown, what: string): ObjectId {
  if (!isObjectId(v)) throw invalid(what, "an id (24 lowercase hex)");
  return ObjectId.createFromHexString(v);
}
function bool(v: unknown, what: string): boolean {
  if (typeof v !== "boolean") throw invalid(what, "true or false");
  return v;
}
function strs(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw invalid(what, "a list of strings");
  return [...v];
}
function date(v: unknown, what: string): Date {
  const d = new Date(str(v, what));
  if (Number.isNaN(d.getTime())) throw invalid(what, "an ISO date");
  return d;
}
function limitOf(v: unknown): number {
  const n = int(v, "limit");
  if (n < 0) throw invalid("limit", "positive");
  return n;
}

export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function teamDoc(t: Team): TeamDoc {
  const d: TeamDoc = {
    _id: oid(t.id, "team id"),
    name: str(t.name, "name"),
    active: bool(t.active, "active"),
    meta_tags: strs(t.meta_tags, "meta_tags"),
    members: strs(t.members, "members"),
    admins: strs(t.admins, "admins"),
    super_admin: str(t.super_admin, "super_admin"),
    doc: date(t.doc, "doc"),
    version: int(t.version, "version"),
  };
  if (t.icon !== undefined) d.icon = str(t.icon, "icon");
  return d;
}

function teamOf(d: TeamDoc): Team {
  const t: Team = {
    id: d._id.toHexString(),
    name: d.name,
    active: d.active,
    meta_tags: d.meta_tags,
    members: d.members,
    admins: d.admins,
    super_admin: d.super_admin,
    doc: d.doc.toISOString(),
    version: d.version,
  };
  if (d.icon !== undefined && d.icon !== null) t.icon = d.icon;
  return t;
}

function messageDoc(m: StoredMessage): MessageDoc {
  const d: MessageDoc = {
    _id: oid(m.id, "message id"),
    channel_id: str(m.channel_id, "channel_id"),
    seq: int(m.seq, "seq"),
    to: str(m.to, "to"),
    from: str(m.from, "from"),
    type: str(m.type, "type") as MessageType,
    data: str(m.data, "data"),
    ts: date(m.ts, "ts"),
  };
  if (m.client_msg_id !== undefined) d.client_msg_id = str(m.client_msg_id, "client_msg_id");
  if (m.reply_to !== undefined) d.reply_to = oid(m.reply_to, "reply_to");
  return d;
}

function messageOf(d: MessageDoc): StoredMessage {
  const m: StoredMessage = {
    id: d._id.toHexString(),
    channel_id: d.channel_id,
    seq: d.seq,
    to: d.to,
    from: d.from,
    type: d.type,
    data: d.data ?? "",
    ts: d.ts.toISOString(),
  };
  if (d.client_msg_id !== undefined && d.client_msg_id !== null) m.client_msg_id = d.client_msg_id;
  if (d.reply_to) m.reply_to = d.reply_to.toHexString();
  return m;
}

function viewOf(d: MessageDoc, mine?: Set<string>): MessageView {
  const { data, ...base } = messageOf(d);
  const v: MessageView = base;
  if (d.deleted) v.deleted = true;
  else {
    v.data = data;
    if (d.edited_at) v.edited_at = d.edited_at.toISOString();
    if (d.reactions?.length) v.reactions = d.reactions.map((r) => ({ emoji: r.emoji, count: r.count, me: mine?.has(r.emoji) ?? false }));
  }
  if (d.reply_count) {
    v.reply_count = d.reply_count;
    v.last_reply_seq = d.last_reply_seq ?? 0;
  }
  return v;
}

function stateOf(d: MessageDoc): MessageState {
  const m: MessageState = {
    id: d._id.toHexString(),
    channel_id: d.channel_id,
    from: d.from,
    to: d.to,
    type: d.type,
    deleted: d.deleted === true,
    edited_seq: d.edited_seq ?? 0,
    deleted_seq: d.deleted_seq ?? 0,
    reactions: d.reactions ?? [],
  };
  if (!m.deleted && d.data !== undefined) m.data = d.data;
  if (d.edited_at) m.edited_at = d.edited_at.toISOString();
  if (d.deleted_by) m.deleted_by = d.deleted_by;
  return m;
}

/** A log entry's fields, checked like any other value that reaches a filter or a document. */
function checkedEntry(e: LifecycleEntry): LifecycleEntry {
  str(e.channel_id, "channel_id");
  if (e.kind === "read") return { ...e, user: str(e.user, "user"), seq: int(e.seq, "seq") };
  oid(e.id, "message id");
  str(e.to, "to");
  str(e.author, "author");
  if (e.kind === "reaction") {
    if (!isEmoji(e.emoji)) throw invalid("emoji", "an emoji");
    str(e.user, "user");
    bool(e.on, "on");
  }
  if (e.kind === "message_edited") str(e.data, "data"), date(e.edited_at, "edited_at");
  if (e.kind !== "reaction") str(e.by, "by");
  return e;
}

const visibleTo = (viewer: string): Filter<MessageDoc> => ({ $or: [{ to: "*" }, { to: viewer }, { from: viewer }] });

function isUnavailable(err: unknown): boolean {
  return (
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoTopologyClosedError ||
    err instanceof MongoNotConnectedError
  );
}

/**
 * TeamStore and MessageStore on MongoDB (or FerretDB): `teams` and `messages` in one database.
 * A team change is one conditional replace on `version`; messages are keyed by their id,
 * so persisting a batch twice keeps one copy.
 */
export class MongoStore implements TeamStore, MessageStore {
  readonly db: Db;
  private readonly teams: Collection<TeamDoc>;
  private readonly messages: Collection<MessageDoc>;
  private readonly reactions: Collection<ReactionDoc>;
  private readonly reads: Collection<ReadDoc>;
  private readonly clientMsgs: Collection<ClientMsgDoc>;
  private closed = false;

  /** Does no I/O; `connect` is the way in. */
  constructor(
    private readonly client: MongoClient,
    dbName: string,
    private readonly logger: Logger,
  ) {
    this.db = client.db(dbName);
    this.teams = this.db.collection<TeamDoc>("teams");
    this.messages = this.db.collection<MessageDoc>("messages");
    this.reactions = this.db.collection<ReactionDoc>("reactions");
    this.reads = this.db.collection<ReadDoc>("reads");
    this.clientMsgs = this.db.collection<ClientMsgDoc>("client_msgs");
  }

  static async connect(config: MongoConfig, logger: Logger, options: MongoClientOptions = {}): Promise<MongoStore> {
    const client = new MongoClient(config.url, { appName: "chat", serverSelectionTimeoutMS: 5_000, ignoreUndefined: true, ...options });
    await client.connect();
    const store = new MongoStore(client, config.db, logger);
    try {
      await Promise.all([
        store.messages.createIndex({ channel_id: 1, seq: 1 }),
        store.messages.createIndex({ channel_id: 1, edited_seq: 1 }),
        store.messages.createIndex({ channel_id: 1, deleted_seq: 1 }),
        store.messages.createIndex({ reply_to: 1, seq: 1 }),
        store.reactions.createIndex({ channel_id: 1, seq: 1 }),
        store.reactions.createIndex({ message_id: 1, user: 1 }),
        store.reads.createIndex({ channel_id: 1, user: 1 }),
        store.reads.createIndex({ channel_id: 1, event_seq: 1 }),
        store.teams.createIndex({ members: 1, _id: 1 }),
        store.teams.createIndex({ meta_tags: 1 }),
        store.clientMsgs.createIndex({ ts: 1 }),
      ]);
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
    // FerretDB 1.x applies updates read-modify-write: the conditional replace is atomic only
    // behind a one-request-at-a-time front (scripts/infra/ferretdb does that).
    const info = await store.db.admin().command({ buildInfo: 1 }).catch(() => ({}) as Record<string, unknown>);
    const ferret = "ferretdbVersion" in info;
    logger.info("connected", { db: config.db, server: ferret ? "ferretdb" : "mongodb", version: info.version });
    return store;
  }

  /** Driver errors that mean "the database is unreachable" become `unavailable` (503); others pass through. */
  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof AppError || !isUnavailable(err)) throw err;
      this.logger.warn("database unavailable", { op: what, err });
      throw new AppError("unavailable", "database unavailable");
    }
  }

  async create(team: Team): Promise<void> {
    const doc = teamDoc(team);
    await this.run("create team", async () => {
      try {
        await this.teams.insertOne(doc);
      } catch (err) {
        if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) throw new AppError("conflict", "team id exists");
        throw err;
      }
    });
  }

  async get(id: string): Promise<Team | null> {
    if (!isObjectId(str(id, "team id"))) return null;
    const d = await this.run("get team", () => this.teams.findOne({ _id: oid(id, "team id") }));
    return d ? teamOf(d) : null;
  }

  async replace(team: Team, expectedVersion: number): Promise<boolean> {
    const doc = teamDoc(team);
    const version = int(expectedVersion, "expected version");
    const r = await this.run("replace team", () => this.teams.replaceOne({ _id: doc._id, version }, doc));
    return r.matchedCount === 1;
  }

  async listForUser(user: string, query: TeamQuery): Promise<Team[]> {
    const filter: Filter<TeamDoc> = { members: str(user, "user id") };
    if (query.after !== undefined) filter._id = { $gt: oid(query.after, "cursor") };
    if (query.q !== undefined && str(query.q, "q") !== "") filter.name = { $regex: escapeRegex(query.q), $options: "i" };
    if (query.tag !== undefined) filter.meta_tags = str(query.tag, "tag");
    const limit = limitOf(query.limit);
    if (limit === 0) return []; // a zero limit means "no limit" to MongoDB
    const docs = await this.run("list teams", () => this.teams.find(filter).sort({ _id: 1 }).limit(limit).toArray());
    return docs.map(teamOf);
  }

  async channelsOf(user: string): Promise<string[]> {
    const filter: Filter<TeamDoc> = { members: str(user, "user id"), active: true };
    const docs = await this.run("channels of", () => this.teams.find(filter, { projection: { _id: 1 } }).sort({ _id: 1 }).toArray());
    return docs.map((d) => d._id.toHexString());
  }

  async insertMany(messages: StoredMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const docs = messages.map(messageDoc);
    await this.run("insert messages", async () => {
      try {
        await this.messages.insertMany(docs, { ordered: false });
      } catch (err) {
        if (!onlyDuplicates(err)) throw err;
      }
    });
  }

  /**
   * No transactions (FerretDB has none): the batch's state is read, changed in memory by the pure
   * rules, and written with filters on seq, so a write from an older view never wins and a
   * redelivered batch rewrites what it wrote. Derived fields (reaction counts, reply counts) are
   * recomputed from their rows, so a crash between two writes heals on redelivery.
   */
  async applyBatch(batch: Sequenced<StoreEntry>[]): Promise<(StoreEntry | null)[]> {
    const all: StoredMessage[] = [];
    const lifecycle: Sequenced<LifecycleEntry>[] = [];
    for (const { seq, entry } of batch) {
      if (entry.kind === "message") {
        const { kind: _k, ...m } = entry;
        all.push({ ...m, seq: int(seq, "seq") });
      } else lifecycle.push({ seq: int(seq, "seq"), entry: checkedEntry(entry) });
    }
    const resends = await this.claimClientMsgIds(all);
    const messages = all.filter((m) => !resends.has(m.id));
    await this.insertMany(messages);
    const effective: (LifecycleEntry | null)[] = [];
    if (lifecycle.length) {
      const state = await this.loadBatchState(lifecycle);
      const plan = planBatch(lifecycle, state);
      await this.writeBatchState(state, plan.dirty);
      effective.push(...plan.effective);
    }
    const roots = [...new Set(messages.flatMap((m) => (m.reply_to ? [m.reply_to] : [])))];
    for (const root of roots) await this.recountReplies(oid(root, "reply_to"));
    let i = 0;
    return batch.map(({ entry }) => (entry.kind === "message" ? (resends.has(entry.id) ? null : entry) : (effective[i++] ?? null)));
  }

  /**
   * Claims each message's client_msg_id key for its id, first in log order; returns the ids of
   * resends (their key is held by another id). Claims go before messages, so a crash between the
   * two is healed by the redelivery, which finds its own claims.
   */
  private async claimClientMsgIds(messages: StoredMessage[]): Promise<Set<string>> {
    const resends = new Set<string>();
    const first = new Map<string, StoredMessage>();
    for (const m of messages) {
      if (m.client_msg_id === undefined) continue;
      const key = clientMsgKey(str(m.channel_id, "channel_id"), str(m.from, "from"), str(m.client_msg_id, "client_msg_id"));
      const held = first.get(key);
      if (!held) first.set(key, m);
      else if (held.id !== m.id) resends.add(m.id);
    }
    if (first.size === 0) return resends;
    const docs = [...first].map(([_id, m]) => ({ _id, id: oid(m.id, "message id").toHexString(), seq: m.seq, ts: date(m.ts, "ts") }));
    const taken = await this.run("claim client_msg_ids", async () => {
      try {
        await this.clientMsgs.insertMany(docs, { ordered: false });
        return [];
      } catch (err) {
        if (!onlyDuplicates(err)) throw err;
        const errors = err instanceof MongoBulkWriteError ? (Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors]) : [];
        const keys = errors.length ? errors.map((e) => docs[e.index]!._id) : docs.map((d) => d._id);
        return this.clientMsgs.find({ _id: { $in: keys } }).toArray();
      }
    });
    for (const c of taken) {
      const m = first.get(c._id);
      if (m && c.id !== m.id) resends.add(m.id);
    }
    return resends;
  }

  async lookupClientMessage(channelId: string, from: string, clientMsgId: string): Promise<ClientMessageRef | null> {
    const _id = clientMsgKey(str(channelId, "channel id"), str(from, "from"), str(clientMsgId, "client_msg_id"));
    const d = await this.run("lookup client_msg_id", () => this.clientMsgs.findOne({ _id }));
    return d ? { id: d.id, seq: d.seq, ts: d.ts.toISOString() } : null;
  }

  async pruneClientMessages(before: Date): Promise<number> {
    const r = await this.run("prune client_msg_ids", () => this.clientMsgs.deleteMany({ ts: { $lt: before } }));
    return r.deletedCount;
  }

  private async loadBatchState(entries: Sequenced<LifecycleEntry>[]): Promise<BatchState> {
    const keys = batchKeys(entries);
    const state: BatchState = { messages: new Map(), reactions: new Map(), reads: new Map() };
    await this.run("load batch state", async () => {
      if (keys.messageIds.length) {
        const docs = await this.messages.find({ _id: { $in: keys.messageIds.map((id) => oid(id, "message id")) } }).toArray();
        for (const d of docs) state.messages.set(d._id.toHexString(), stateOf(d));
      }
      if (keys.reactedIds.length) {
        // Counts from the rows themselves, oldest emoji first (by its earliest current reaction).
        const rows = await this.reactions
          .find({ message_id: { $in: keys.reactedIds.map((id) => oid(id, "message id")) }, on: true }, { projection: { message_id: 1, emoji: 1, seq: 1 } })
          .toArray();
        const counts = new Map<string, Map<string, { count: number; first: number }>>();
        for (const r of rows) {
          const id = r.message_id.toHexString();
          let m = counts.get(id);
          if (!m) counts.set(id, (m = new Map()));
          const c = m.get(r.emoji);
          if (c) (c.count++, (c.first = Math.min(c.first, r.seq)));
          else m.set(r.emoji, { count: 1, first: r.seq });
        }
        for (const id of keys.reactedIds) {
          const m = state.messages.get(id);
          if (!m) continue;
          const c = [...(counts.get(id) ?? new Map<string, { count: number; first: number }>()).entries()];
          c.sort((a, b) => a[1].first - b[1].first || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
          m.reactions = c.map(([emoji, { count }]) => ({ emoji, count }));
        }
      }
      if (keys.reactions.length) {
        const ids = keys.reactions.map((k) => reactionKey(k.id, k.user, k.emoji));
        for (const r of await this.reactions.find({ _id: { $in: ids } }).toArray()) state.reactions.set(r._id, { on: r.on, seq: r.seq });
      }
      if (keys.reads.length) {
        const ids = keys.reads.map((k) => readKey(k.channel_id, k.user));
        for (const r of await this.reads.find({ _id: { $in: ids } }).toArray()) state.reads.set(r._id, { seq: r.seq, event_seq: r.event_seq });
      }
    });
    return state;
  }

  private async writeBatchState(state: BatchState, dirty: ReturnType<typeof planBatch>["dirty"]): Promise<void> {
    const msgOps: AnyBulkWriteOperation<MessageDoc>[] = [];
    for (const id of dirty.messages) {
      const m = state.messages.get(id)!;
      const _id = oid(id, "message id");
      if (m.deleted) {
        // The content leaves the document: data, edit time and reaction counts.
        msgOps.push({
          updateOne: {
            filter: { _id },
            update: { $set: { deleted: true, deleted_seq: m.deleted_seq, deleted_by: m.deleted_by ?? m.from }, $unset: { data: "", edited_at: "", reactions: "" } },
          },
        });
      } else {
        const set: Partial<MessageDoc> = { edited_seq: m.edited_seq, reactions: m.reactions };
        if (m.data !== undefined) set.data = m.data;
        if (m.edited_at) set.edited_at = new Date(m.edited_at);
        // Never over a newer edit, never over a delete.
        const filter: Filter<MessageDoc> = { _id, deleted: { $ne: true }, $or: [{ edited_seq: { $exists: false } }, { edited_seq: { $lte: m.edited_seq } }] };
        msgOps.push({ updateOne: { filter, update: { $set: set } } });
      }
    }
    const reactionOps: AnyBulkWriteOperation<ReactionDoc>[] = [];
    for (const key of dirty.reactions) {
      const [id, user, emoji] = JSON.parse(key) as [string, string, string];
      const r = state.reactions.get(key)!;
      const m = state.messages.get(id)!;
      reactionOps.push({
        updateOne: {
          filter: { _id: key, seq: { $lt: r.seq } },
          update: { $set: { channel_id: m.channel_id, message_id: oid(id, "message id"), user, emoji, on: r.on, seq: r.seq, to: m.to, author: m.from } },
          upsert: true,
        },
      });
    }
    const readOps: AnyBulkWriteOperation<ReadDoc>[] = [];
    for (const key of dirty.reads) {
      const [channel_id, user] = JSON.parse(key) as [string, string];
      const r = state.reads.get(key)!;
      readOps.push({ updateOne: { filter: { _id: key, event_seq: { $lt: r.event_seq } }, update: { $set: { channel_id, user, seq: r.seq, event_seq: r.event_seq } }, upsert: true } });
    }
    await this.run("apply batch", async () => {
      // Rows first: the message's summary is derived from them and rewritten by a redelivery anyway.
      if (reactionOps.length) await upserts(() => this.reactions.bulkWrite(reactionOps, { ordered: false }));
      if (readOps.length) await upserts(() => this.reads.bulkWrite(readOps, { ordered: false }));
      if (msgOps.length) await this.messages.bulkWrite(msgOps, { ordered: false });
    });
  }

  /** reply_count and last_reply_seq of a root, from its replies (idempotent by construction). */
  private async recountReplies(root: ObjectId): Promise<void> {
    await this.run("recount replies", async () => {
      const count = await this.messages.countDocuments({ reply_to: root });
      const last = await this.messages.find({ reply_to: root }, { projection: { seq: 1 } }).sort({ seq: -1 }).limit(1).toArray();
      await this.messages.updateOne({ _id: root }, { $set: { reply_count: count, last_reply_seq: last[0]?.seq ?? 0 } });
    });
  }

  async getMessage(channelId: string, id: string): Promise<MessageInfo | null> {
    const filter: Filter<MessageDoc> = { _id: oid(id, "message id"), channel_id: str(channelId, "channel id") };
    const d = await this.run("get message", () => this.messages.findOne(filter, { projection: { data: 0 } }));
    if (!d) return null;
    const info: MessageInfo = {
      id: d._id.toHexString(),
      channel_id: d.channel_id,
      seq: d.seq,
      from: d.from,
      to: d.to,
      type: d.type,
      deleted: d.deleted === true,
      emoji: (d.reactions ?? []).map((r) => r.emoji),
    };
    if (d.reply_to) info.reply_to = d.reply_to.toHexString();
    return info;
  }

  async history(channelId: string, viewer: string, opts: { before?: number; limit: number; thread?: string }): Promise<MessageView[]> {
    const v = str(viewer, "viewer");
    const filter: Filter<MessageDoc> = { channel_id: str(channelId, "channel id") };
    if (opts.thread !== undefined) {
      const root = oid(opts.thread, "thread");
      filter.$and = [visibleTo(v), { $or: [{ _id: root }, { reply_to: root }] }];
    } else Object.assign(filter, visibleTo(v));
    if (opts.before !== undefined) filter.seq = { $lt: int(opts.before, "before") };
    const limit = limitOf(opts.limit);
    if (limit === 0) return [];
    const docs = await this.run("history", () => this.messages.find(filter).sort({ seq: -1 }).limit(limit).toArray());
    const reacted = docs.filter((d) => !d.deleted && d.reactions?.length).map((d) => d._id);
    const mine = new Map<string, Set<string>>();
    if (reacted.length) {
      const rows = await this.run("my reactions", () => this.reactions.find({ message_id: { $in: reacted }, user: v, on: true }, { projection: { message_id: 1, emoji: 1 } }).toArray());
      for (const r of rows) {
        const id = r.message_id.toHexString();
        mine.set(id, (mine.get(id) ?? new Set()).add(r.emoji));
      }
    }
    return docs.map((d) => viewOf(d, mine.get(d._id.toHexString())));
  }

  async since(channelId: string, viewer: string | undefined, after: number, limit: number): Promise<StoredMessage[]> {
    const filter: Filter<MessageDoc> = { channel_id: str(channelId, "channel id"), seq: { $gt: int(after, "after") } };
    if (viewer !== undefined) Object.assign(filter, visibleTo(str(viewer, "viewer")));
    const n = limitOf(limit);
    if (n === 0) return [];
    const docs = await this.run("since", () => this.messages.find(filter).sort({ seq: 1 }).limit(n).toArray());
    return docs.map(messageOf);
  }

  async eventsSince(channelId: string, viewer: string | undefined, after: number, limit: number): Promise<ReplayItem[]> {
    const ch = str(channelId, "channel id");
    const S = int(after, "after");
    const n = limitOf(limit);
    if (n === 0) return [];
    const v = viewer === undefined ? undefined : str(viewer, "viewer");
    const vis = (f: Filter<MessageDoc>): Filter<MessageDoc> => (v === undefined ? f : { ...f, ...visibleTo(v) });
    const items: ReplayItem[] = [];
    await this.run("events since", async () => {
      for (const d of await this.messages.find(vis({ channel_id: ch, seq: { $gt: S } })).sort({ seq: 1 }).limit(n).toArray())
        items.push({ seq: d.seq, message: viewOf(d) });
      const edited = await this.messages
        .find(vis({ channel_id: ch, edited_seq: { $gt: S }, seq: { $lte: S }, deleted: { $ne: true } }))
        .sort({ edited_seq: 1 })
        .limit(n)
        .toArray();
      for (const d of edited)
        items.push({
          seq: d.edited_seq!,
          entry: { kind: "message_edited", channel_id: ch, id: d._id.toHexString(), data: d.data ?? "", edited_at: (d.edited_at ?? d.ts).toISOString(), by: d.from, to: d.to, author: d.from },
        });
      const deleted = await this.messages
        .find(vis({ channel_id: ch, deleted_seq: { $gt: S }, seq: { $lte: S } }), { projection: { data: 0 } })
        .sort({ deleted_seq: 1 })
        .limit(n)
        .toArray();
      for (const d of deleted)
        items.push({ seq: d.deleted_seq!, entry: { kind: "message_deleted", channel_id: ch, id: d._id.toHexString(), by: d.deleted_by ?? d.from, to: d.to, author: d.from, ts: "" } });
      const rf: Filter<ReactionDoc> = { channel_id: ch, seq: { $gt: S } };
      if (v !== undefined) rf.$or = [{ to: "*" }, { to: v }, { author: v }];
      const rows = await this.reactions.find(rf).sort({ seq: 1 }).limit(n).toArray();
      if (rows.length) {
        // No $lookup: the rows' messages are read once to leave out deleted ones.
        const ids = [...new Set(rows.map((r) => r.message_id.toHexString()))].map((id) => oid(id, "message id"));
        const gone = new Set((await this.messages.find({ _id: { $in: ids }, deleted: true }, { projection: { _id: 1 } }).toArray()).map((d) => d._id.toHexString()));
        for (const r of rows)
          if (!gone.has(r.message_id.toHexString()))
            items.push({ seq: r.seq, entry: { kind: "reaction", channel_id: ch, id: r.message_id.toHexString(), emoji: r.emoji, user: r.user, on: r.on, to: r.to, author: r.author, ts: "" } });
      }
      const df: Filter<ReadDoc> = { channel_id: ch, event_seq: { $gt: S } };
      if (v !== undefined) df.user = v;
      for (const r of await this.reads.find(df).sort({ event_seq: 1 }).limit(n).toArray())
        items.push({ seq: r.event_seq, entry: { kind: "read", channel_id: ch, user: r.user, seq: r.seq, ts: "" } });
    });
    return items.sort((a, b) => a.seq - b.seq).slice(0, n);
  }

  async unread(viewer: string, channelIds: string[]): Promise<UnreadInfo[]> {
    const v = str(viewer, "viewer");
    const chs = channelIds.map((c) => str(c, "channel id"));
    return this.run("unread", async () => {
      const markers = new Map((await this.reads.find({ _id: { $in: chs.map((c) => readKey(c, v)) } }).toArray()).map((r) => [r.channel_id, r.seq]));
      return Promise.all(
        chs.map(async (ch) => {
          const seq = markers.get(ch) ?? 0;
          // An index range over (channel_id, seq > marker): never the whole channel.
          const unread = await this.messages.countDocuments({ channel_id: ch, seq: { $gt: seq }, from: { $ne: v }, to: { $in: ["*", v] }, deleted: { $ne: true } });
          const last = await this.messages.find({ channel_id: ch, ...visibleTo(v) }, { projection: { seq: 1 } }).sort({ seq: -1 }).limit(1).toArray();
          return { channel_id: ch, last_seq: last[0]?.seq ?? 0, last_read_seq: seq, unread };
        }),
      );
    });
  }

  async readMarkers(channelId: string): Promise<{ user: string; seq: number }[]> {
    const docs = await this.run("read markers", () => this.reads.find({ channel_id: str(channelId, "channel id") }).sort({ user: 1 }).toArray());
    return docs.map((d) => ({ user: d.user, seq: d.seq }));
  }

  async ping(): Promise<void> {
    if (this.closed) throw new AppError("unavailable", "database closed");
    await this.run("ping", () => this.db.command({ ping: 1 }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }
}

/**
 * Conditional upserts: a row whose seq is already as new does not match its filter, so the upsert
 * tries to insert its `_id` and fails as a duplicate — that row needs nothing, the others are written.
 */
async function upserts(write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (err) {
    if (!onlyDuplicates(err)) throw err;
  }
}

/** An unordered insert that failed only on ids already stored: the messages are all there. */
function onlyDuplicates(err: unknown): boolean {
  if (err instanceof MongoBulkWriteError) {
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    return !err.err && errors.length > 0 && errors.every((e) => e.code === DUPLICATE_KEY);
  }
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}
