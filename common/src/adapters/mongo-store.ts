import {
  MongoBulkWriteError,
  MongoClient,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  ObjectId,
  type Collection,
  type Db,
  type Filter,
  type MongoClientOptions,
} from "mongodb";
import type { Config } from "../config";
import { AppError } from "../errors";
import { isObjectId } from "../ids";
import type { Logger } from "../log";
import type { MessageType, StoredMessage } from "../message";
import type { MessageStore, TeamQuery, TeamStore } from "../ports";
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
  data: string;
  ts: Date;
  client_msg_id?: string;
}

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
    data: d.data,
    ts: d.ts.toISOString(),
  };
  if (d.client_msg_id !== undefined && d.client_msg_id !== null) m.client_msg_id = d.client_msg_id;
  return m;
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
  }

  static async connect(config: MongoConfig, logger: Logger, options: MongoClientOptions = {}): Promise<MongoStore> {
    const client = new MongoClient(config.url, { appName: "chat", serverSelectionTimeoutMS: 5_000, ignoreUndefined: true, ...options });
    await client.connect();
    const store = new MongoStore(client, config.db, logger);
    try {
      await Promise.all([
        store.messages.createIndex({ channel_id: 1, seq: 1 }),
        store.teams.createIndex({ members: 1, _id: 1 }),
        store.teams.createIndex({ meta_tags: 1 }),
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

  async history(channelId: string, viewer: string, opts: { before?: number; limit: number }): Promise<StoredMessage[]> {
    const filter: Filter<MessageDoc> = { channel_id: str(channelId, "channel id"), ...visibleTo(str(viewer, "viewer")) };
    if (opts.before !== undefined) filter.seq = { $lt: int(opts.before, "before") };
    const limit = limitOf(opts.limit);
    if (limit === 0) return [];
    const docs = await this.run("history", () => this.messages.find(filter).sort({ seq: -1 }).limit(limit).toArray());
    return docs.map(messageOf);
  }

  async since(channelId: string, viewer: string | undefined, after: number, limit: number): Promise<StoredMessage[]> {
    const filter: Filter<MessageDoc> = { channel_id: str(channelId, "channel id"), seq: { $gt: int(after, "after") } };
    if (viewer !== undefined) Object.assign(filter, visibleTo(str(viewer, "viewer")));
    const n = limitOf(limit);
    if (n === 0) return [];
    const docs = await this.run("since", () => this.messages.find(filter).sort({ seq: 1 }).limit(n).toArray());
    return docs.map(messageOf);
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

/** An unordered insert that failed only on ids already stored: the messages are all there. */
function onlyDuplicates(err: unknown): boolean {
  if (err instanceof MongoBulkWriteError) {
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    return !err.err && errors.length > 0 && errors.every((e) => e.code === DUPLICATE_KEY);
  }
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}
