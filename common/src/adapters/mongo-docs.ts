// The documents of the MongoDB store and their mapping from and to the ports' types; every value
// is type-checked on the way in, so a request value can never become a query operator.
import {
  MongoBulkWriteError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  ObjectId,
  type Filter,
} from "mongodb";
import type { Config } from "../config";
import { AppError } from "../errors";
import { isObjectId } from "../ids";
import { isEmoji, type LifecycleEntry } from "../lifecycle";
import { type MessageState, type ReactionCount } from "../lifecycle-apply";
import type { MessageType, MessageView, StoredMessage } from "../message";
import type { MemberRole, RowWrite, Team } from "../teams";

export type MongoConfig = NonNullable<Config["mongo"]>;

/** A team header as stored: `_id` an ObjectId, `doc` a Date. */
export type TeamDoc = Omit<Team, "id" | "doc"> & { _id: ObjectId; doc: Date };

/** One membership row; `_id` is the (team, user) key, so a write of it is an idempotent upsert. */
export interface MembershipDoc {
  _id: string;
  team_id: string;
  user: string;
  role: MemberRole | "none";
  /** The team version of the change that wrote it (rows only move forward, see membership.ts). */
  v: number;
}
export const membershipKey = (teamId: string, user: string) => JSON.stringify([teamId, user]);

export function rowWrites(v: unknown, what: string): RowWrite[] {
  if (!Array.isArray(v)) throw invalid(what, "a list of rows");
  return v.map((r: { user?: unknown; role?: unknown }) => {
    const role = str(r?.role, `${what} role`);
    if (role !== "user" && role !== "admin" && role !== "none") throw invalid(`${what} role`, "user, admin or none");
    return { user: str(r.user, `${what} user`), role };
  });
}

export interface MessageDoc {
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
export interface ReactionDoc {
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
export interface ReadDoc {
  _id: string;
  channel_id: string;
  user: string;
  seq: number;
  event_seq: number;
}

/** A client_msg_id claim: `_id` is the (channel, sender, client_msg_id) key; the first message id stored under it wins. */
export interface ClientMsgDoc {
  _id: string;
  id: string;
  seq: number;
  ts: Date;
  /** `ts` in whole CLAIM_BUCKET_MS: claims are pruned a bucket at a time, by equality (see pruneClientMessages). */
  b: number;
}

/** Claims share a prune bucket per this many milliseconds of message time. */
export const CLAIM_BUCKET_MS = 10_000;
export const claimBucket = (t: Date): number => Math.floor(t.getTime() / CLAIM_BUCKET_MS);
export { clientMsgKey } from "../message";

export const DUPLICATE_KEY = 11000;

// Every value that reaches a filter passes one of these: a caller's object (`{ $ne: 1 }`)
// must never become a query operator.
export const invalid = (what: string, expected: string) => new AppError("validation", `${what} must be ${expected}`);
export function str(v: unknown, what: string): string {
  if (typeof v !== "string") throw invalid(what, "a string");
  return v;
}
export function int(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw invalid(what, "an integer");
  return v;
}
export function oid(v: unknown, what: string): ObjectId {
  if (!isObjectId(v)) throw invalid(what, "an id (24 lowercase hex)");
  return ObjectId.createFromHexString(v);
}
export function bool(v: unknown, what: string): boolean {
  if (typeof v !== "boolean") throw invalid(what, "true or false");
  return v;
}
export function strs(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw invalid(what, "a list of strings");
  return [...v];
}
export function date(v: unknown, what: string): Date {
  const d = new Date(str(v, what));
  if (Number.isNaN(d.getTime())) throw invalid(what, "an ISO date");
  return d;
}
export function limitOf(v: unknown): number {
  const n = int(v, "limit");
  if (n < 0) throw invalid("limit", "positive");
  return n;
}

export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export function teamDoc(t: Team): TeamDoc {
  const d: TeamDoc = {
    _id: oid(t.id, "team id"),
    name: str(t.name, "name"),
    active: bool(t.active, "active"),
    meta_tags: strs(t.meta_tags, "meta_tags"),
    super_admin: str(t.super_admin, "super_admin"),
    doc: date(t.doc, "doc"),
    member_count: int(t.member_count, "member_count"),
    version: int(t.version, "version"),
  };
  if (t.icon !== undefined) d.icon = str(t.icon, "icon");
  if (t.pending !== undefined) d.pending = rowWrites(t.pending, "pending");
  return d;
}

export function teamOf(d: TeamDoc): Team {
  const t: Team = {
    id: d._id.toHexString(),
    name: d.name,
    active: d.active,
    meta_tags: d.meta_tags,
    super_admin: d.super_admin,
    doc: d.doc.toISOString(),
    member_count: d.member_count,
    version: d.version,
  };
  if (d.icon !== undefined && d.icon !== null) t.icon = d.icon;
  if (d.pending) t.pending = d.pending.map((r) => ({ user: r.user, role: r.role }));
  return t;
}

export function messageDoc(m: StoredMessage): MessageDoc {
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

export function messageOf(d: MessageDoc): StoredMessage {
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

export function viewOf(d: MessageDoc, mine?: Set<string>): MessageView {
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

export function stateOf(d: MessageDoc): MessageState {
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
export function checkedEntry(e: LifecycleEntry): LifecycleEntry {
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

export const visibleTo = (viewer: string): Filter<MessageDoc> => ({ $or: [{ to: "*" }, { to: viewer }, { from: viewer }] });

export function isUnavailable(err: unknown): boolean {
  return (
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoTopologyClosedError ||
    err instanceof MongoNotConnectedError
  );
}


/**
 * Conditional upserts: a row whose seq is already as new does not match its filter, so the upsert
 * tries to insert its `_id` and fails as a duplicate — that row needs nothing, the others are written.
 */
export async function upserts(write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (err) {
    if (!onlyDuplicates(err)) throw err;
  }
}

/** An unordered insert that failed only on ids already stored: the messages are all there. */
export function onlyDuplicates(err: unknown): boolean {
  if (err instanceof MongoBulkWriteError) {
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    return !err.err && errors.length > 0 && errors.every((e) => e.code === DUPLICATE_KEY);
  }
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}
