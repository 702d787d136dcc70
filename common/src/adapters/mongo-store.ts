import { MongoClient, MongoServerError, type Collection, type Db, type Filter, type MongoClientOptions } from "mongodb";
import { AppError } from "../errors";
import { OutageWatch } from "./mongo-outage";
import { isObjectId } from "../ids";
import type { Logger } from "../log";
import { type LifecycleEntry, type MessageInfo } from "../lifecycle";
import { planBatch, readKey, type Sequenced } from "../lifecycle-apply";
import type { MessageView, StoredMessage } from "../message";
import type { ClientMessageRef, MessageStore, ReplayItem, StoreEntry, SyncOptions, TeamQuery, TeamStore, UnreadInfo } from "../ports";
import type { MemberRole, RowWrite, Team } from "../teams";
import {
  clientMsgKey,
  DUPLICATE_KEY,
  str,
  int,
  oid,
  limitOf,
  escapeRegex,
  teamDoc,
  teamOf,
  membershipKey,
  rowWrites,
  strs,
  upserts,
  type MembershipDoc,
  messageDoc,
  messageOf,
  viewOf,
  checkedEntry,
  visibleTo,
  isUnavailable,
  onlyDuplicates,
  type MongoConfig,
  type TeamDoc,
  type MessageDoc,
  type ReactionDoc,
  type ReadDoc,
  claimBucket,
  type ClientMsgDoc,
} from "./mongo-docs";
import { claimClientMsgIds, loadBatchState, recountReplies, writeBatchState, type MongoCollections } from "./mongo-batch";

/**
 * TeamStore and MessageStore on MongoDB (or FerretDB): team headers, membership rows and messages in
 * one database. A team change commits its header conditionally on `version` (common/src/membership.ts);
 * messages are keyed by their id, so persisting a batch twice keeps one copy. One class for the two
 * ports over one connection, ~460 lines: its documents are in mongo-docs.ts and its batch writes in
 * mongo-batch.ts; what is left is one short method per port operation. Splitting the TeamStore
 * half into a class of its own (sharing `run` and the collections) is the next cut if it grows.
 */
export class MongoStore implements TeamStore, MessageStore, MongoCollections {
  readonly db: Db;
  readonly teams: Collection<TeamDoc>;
  readonly memberships: Collection<MembershipDoc>;
  readonly messages: Collection<MessageDoc>;
  readonly reactions: Collection<ReactionDoc>;
  readonly reads: Collection<ReadDoc>;
  readonly clientMsgs: Collection<ClientMsgDoc>;
  /** Network failures and recoveries, for operations caught in between (see `run`). */
  private readonly outages = new OutageWatch();
  private closed = false;

  /** Does no I/O; `connect` is the way in. */
  constructor(
    private readonly client: MongoClient,
    dbName: string,
    private readonly logger: Logger,
  ) {
    this.db = client.db(dbName);
    this.teams = this.db.collection<TeamDoc>("teams");
    this.memberships = this.db.collection<MembershipDoc>("memberships");
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
        store.memberships.createIndex({ team_id: 1, user: 1 }, { unique: true }),
        store.memberships.createIndex({ user: 1, team_id: 1 }),
        store.teams.createIndex({ meta_tags: 1 }),
        store.clientMsgs.createIndex({ ts: 1 }),
        store.clientMsgs.createIndex({ b: 1 }),
      ]);
      await store.migrateMembers();
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

  /**
   * Driver errors that mean "the database is unreachable" become `unavailable` (503); others pass
   * through. An operation still waiting when the database comes back from an outage is abandoned as
   * `unavailable` too (see OutageWatch).
   */
  async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      const r = await this.outages.guard(fn(), () => {
        this.logger.warn("database operation abandoned: it was in flight through an outage", { op: what });
        return new AppError("unavailable", "database connection lost during the operation; retry");
      });
      this.outages.succeeded();
      return r;
    } catch (err) {
      if (err instanceof AppError || !isUnavailable(err)) throw err;
      this.outages.failed();
      this.logger.warn("database unavailable", { op: what, err });
      throw new AppError("unavailable", "database unavailable");
    }
  }

  /**
   * Teams of the previous layout keep `members` and `admins` in their document: each becomes rows
   * (idempotent upserts stamped with the team's version), then the arrays leave the document in one
   * conditional update; a crash in between repeats the row writes at the next start.
   */
  async migrateMembers(): Promise<void> {
    type OldDoc = TeamDoc & { members?: string[]; admins?: string[] };
    for await (const d of this.teams.find({ members: { $exists: true } }) as AsyncIterable<OldDoc>) {
      const members = [...new Set(strs(d.members, "members"))];
      const admins = new Set(strs(d.admins ?? [], "admins"));
      const id = d._id.toHexString();
      // Plain inserts (a key already there is the same row from a migration cut short): FerretDB
      // checks them through the unique _id index, where a filtered upsert would scan the collection.
      for (let i = 0; i < members.length; i += 1000) {
        const docs = members.slice(i, i + 1000).map((user) => ({ _id: membershipKey(id, user), team_id: id, user, role: admins.has(user) ? ("admin" as const) : ("user" as const), v: d.version }));
        await upserts(() => this.memberships.insertMany(docs, { ordered: false }));
      }
      await this.teams.updateOne({ _id: d._id, version: d.version }, { $unset: { members: "", admins: "" }, $set: { member_count: members.length } });
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

  async commit(team: Team, expectedVersion: number): Promise<boolean> {
    const doc = teamDoc(team);
    const version = int(expectedVersion, "expected version");
    const r = await this.run("commit team", () => this.teams.replaceOne({ _id: doc._id, version }, doc));
    return r.matchedCount === 1;
  }

  async clearPending(id: string, version: number): Promise<void> {
    const filter = { _id: oid(id, "team id"), version: int(version, "version"), pending: { $exists: true } };
    await this.run("clear pending", () => this.teams.updateOne(filter, { $unset: { pending: "" } }));
  }

  async writeRows(teamId: string, stamp: number, rows: RowWrite[]): Promise<void> {
    const team = oid(teamId, "team id").toHexString();
    const v = int(stamp, "stamp");
    const writes = rowWrites(rows, "rows");
    // Each row only moves forward: a stored stamp >= v fails the filter, the upsert then collides on
    // `_id` (duplicate key), and that row is left as the newer change wrote it.
    for (const r of writes)
      await this.run("write membership", () =>
        upserts(() => this.memberships.updateOne({ _id: membershipKey(team, r.user), v: { $lt: v } }, { $set: { team_id: team, user: r.user, role: r.role, v } }, { upsert: true })),
      );
  }

  async rowsOf(teamId: string, users: string[]): Promise<Map<string, MemberRole | "none">> {
    const team = oid(teamId, "team id").toHexString();
    const out = new Map<string, MemberRole | "none">();
    // One lookup by _id per user: FerretDB 1.x (SQLite) answers `_id` equality from its index but
    // scans the collection for `$in`.
    for (const u of strs(users, "users")) {
      const d = await this.run("membership row", () => this.memberships.findOne({ _id: membershipKey(team, u) }));
      if (d) out.set(u, d.role);
    }
    return out;
  }

  async memberRows(teamId: string, after: string | undefined, limit: number): Promise<{ user: string; role: MemberRole }[]> {
    const filter: Filter<MembershipDoc> = { team_id: oid(teamId, "team id").toHexString(), role: { $ne: "none" } };
    if (after !== undefined) filter.user = { $gt: str(after, "cursor") };
    const n = limitOf(limit);
    if (n === 0) return [];
    const docs = await this.run("members", () => this.memberships.find(filter, { projection: { user: 1, role: 1 } }).sort({ team_id: 1, user: 1 }).limit(n).toArray());
    return docs.map((d) => ({ user: d.user, role: d.role as MemberRole }));
  }

  /** Team ids of the user's rows after `after`, ascending (no $lookup: the headers are read by id next). */
  private async teamIdsOf(user: string, after: string, limit: number): Promise<string[]> {
    const filter: Filter<MembershipDoc> = { user, role: { $ne: "none" }, team_id: { $gt: after } };
    const docs = await this.run("teams of user", () => this.memberships.find(filter, { projection: { team_id: 1 } }).sort({ user: 1, team_id: 1 }).limit(limit).toArray());
    return docs.map((d) => d.team_id);
  }

  /**
   * The headers of the user's teams after `after` that match `filter`, a page of `batch` rows at a
   * time in id order: the rows first, then those headers by id (no $lookup).
   */
  private async *headersOf(what: string, user: string, after: string, batch: number, filter: Filter<TeamDoc>, projection?: { _id: 1 }): AsyncGenerator<TeamDoc[]> {
    for (;;) {
      const ids = await this.teamIdsOf(user, after, batch);
      if (ids.length === 0) return;
      const byId: Filter<TeamDoc> = { ...filter, _id: { $in: ids.map((id) => oid(id, "team id")) } };
      yield await this.run(what, () => this.teams.find(byId, projection ? { projection } : {}).sort({ _id: 1 }).toArray());
      if (ids.length < batch) return;
      after = ids[ids.length - 1]!;
    }
  }

  async listForUser(user: string, query: TeamQuery): Promise<Team[]> {
    const u = str(user, "user id");
    const extra: Filter<TeamDoc> = {};
    if (query.q !== undefined && str(query.q, "q") !== "") extra.name = { $regex: escapeRegex(query.q), $options: "i" };
    if (query.tag !== undefined) extra.meta_tags = str(query.tag, "tag");
    const limit = limitOf(query.limit);
    const after = query.after === undefined ? "" : oid(query.after, "cursor").toHexString();
    const out: Team[] = [];
    if (limit === 0) return out;
    for await (const docs of this.headersOf("list teams", u, after, Math.max(limit, 100), extra)) {
      out.push(...docs.map(teamOf));
      if (out.length >= limit) break;
    }
    return out.slice(0, limit);
  }

  async channelsOf(user: string): Promise<string[]> {
    const out: string[] = [];
    for await (const docs of this.headersOf("channels of", str(user, "user id"), "", 1000, { active: true }, { _id: 1 })) out.push(...docs.map((d) => d._id.toHexString()));
    return out;
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
    const resends = await claimClientMsgIds(this, all);
    const messages = all.filter((m) => !resends.has(m.id));
    await this.insertMany(messages);
    const effective: (LifecycleEntry | null)[] = [];
    if (lifecycle.length) {
      const state = await loadBatchState(this, lifecycle);
      const plan = planBatch(lifecycle, state);
      await writeBatchState(this, state, plan.dirty);
      effective.push(...plan.effective);
    }
    const roots = [...new Set(messages.flatMap((m) => (m.reply_to ? [m.reply_to] : [])))];
    for (const root of roots) await recountReplies(this, oid(root, "reply_to"));
    let i = 0;
    return batch.map(({ entry }) => (entry.kind === "message" ? (resends.has(entry.id) ? null : entry) : (effective[i++] ?? null)));
  }


  async lookupClientMessage(channelId: string, from: string, clientMsgId: string): Promise<ClientMessageRef | null> {
    const _id = clientMsgKey(str(channelId, "channel id"), str(from, "from"), str(clientMsgId, "client_msg_id"));
    const d = await this.run("lookup client_msg_id", () => this.clientMsgs.findOne({ _id }));
    return d ? { id: d.id, seq: d.seq, ts: d.ts.toISOString() } : null;
  }

  /**
   * One delete per CLAIM_BUCKET_MS bucket, by equality. A range filter (`ts < before`) is a full scan
   * on FerretDB (it pushes down only equality): 5 s at 200,000 claims, holding the test stack's
   * one-request-at-a-time server, and on PostgreSQL the delete then failed past 65,535 documents.
   */
  async pruneClientMessages(before: Date, since: Date): Promise<number> {
    let deleted = 0;
    for (let b = claimBucket(since), last = claimBucket(before) - 1; b <= last; b++) {
      const r = await this.run("prune client_msg_ids", () => this.clientMsgs.deleteMany({ b }));
      deleted += r.deletedCount;
    }
    return deleted;
  }

  async claimsSince(since: Date, limit: number): Promise<string[]> {
    const docs = await this.run("load client_msg_ids", () => this.clientMsgs.find({ ts: { $gte: since } }, { projection: { _id: 1 } }).limit(limit).toArray());
    return docs.map((d) => d._id);
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

  /**
   * An acknowledged write is as durable as the write concern makes it, so there is nothing to wait
   * for here: power-loss safe with `journal=true` in MONGODB_URL (compose.yaml sets it: a lone mongod
   * otherwise acknowledges before its journal flush) or a replica set's journaled majority.
   */
  async synced(_opts?: SyncOptions): Promise<void> {
    if (this.closed) throw new AppError("unavailable", "database closed");
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
