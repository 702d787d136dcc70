// Applying a consumed batch of lifecycle entries to MongoDB (or FerretDB): read the state, let the pure
// rules of ../lifecycle change it in memory, write it back with filters on seq. No transactions needed.
import { MongoBulkWriteError, ObjectId, type AnyBulkWriteOperation, type Collection, type Filter } from "mongodb";
import { type LifecycleEntry } from "../lifecycle";
import { batchKeys, planBatch, reactionKey, readKey, type BatchState, type Sequenced } from "../lifecycle-apply";
import type { StoredMessage } from "../message";
import {
  clientMsgKey,
  str,
  oid,
  date,
  stateOf,
  upserts,
  onlyDuplicates,
  type MessageDoc,
  type ReactionDoc,
  type ReadDoc,
  claimBucket,
  type ClientMsgDoc,
} from "./mongo-docs";


/** What the batch helpers need of the store: its collections and its error mapping. */
export interface MongoCollections {
  readonly messages: Collection<MessageDoc>;
  readonly reactions: Collection<ReactionDoc>;
  readonly reads: Collection<ReadDoc>;
  readonly clientMsgs: Collection<ClientMsgDoc>;
  run<T>(what: string, fn: () => Promise<T>): Promise<T>;
}

/**
 * Claims each message's client_msg_id key for its id, first in log order; returns the ids of
 * resends (their key is held by another id). Claims go before messages, so a crash between the
 * two is healed by the redelivery, which finds its own claims.
 */
export async function claimClientMsgIds(c: MongoCollections, messages: StoredMessage[]): Promise<Set<string>> {
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
  const docs = [...first].map(([_id, m]) => {
    const ts = date(m.ts, "ts");
    return { _id, id: oid(m.id, "message id").toHexString(), seq: m.seq, ts, b: claimBucket(ts) };
  });
  const taken = await c.run("claim client_msg_ids", async () => {
    try {
      await c.clientMsgs.insertMany(docs, { ordered: false });
      return [];
    } catch (err) {
      if (!onlyDuplicates(err)) throw err;
      const errors = err instanceof MongoBulkWriteError ? (Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors]) : [];
      const keys = errors.length ? errors.map((e) => docs[e.index]!._id) : docs.map((d) => d._id);
      return c.clientMsgs.find({ _id: { $in: keys } }).toArray();
    }
  });
  for (const c of taken) {
    const m = first.get(c._id);
    if (m && c.id !== m.id) resends.add(m.id);
  }
  return resends;
}

export async function loadBatchState(c: MongoCollections, entries: Sequenced<LifecycleEntry>[]): Promise<BatchState> {
  const keys = batchKeys(entries);
  const state: BatchState = { messages: new Map(), reactions: new Map(), reads: new Map() };
  await c.run("load batch state", async () => {
    if (keys.messageIds.length) {
      const docs = await c.messages.find({ _id: { $in: keys.messageIds.map((id) => oid(id, "message id")) } }).toArray();
      for (const d of docs) state.messages.set(d._id.toHexString(), stateOf(d));
    }
    if (keys.reactedIds.length) {
      // Counts from the rows themselves, oldest emoji first (by its earliest current reaction).
      const rows = await c.reactions
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
      for (const r of await c.reactions.find({ _id: { $in: ids } }).toArray()) state.reactions.set(r._id, { on: r.on, seq: r.seq });
    }
    if (keys.reads.length) {
      const ids = keys.reads.map((k) => readKey(k.channel_id, k.user));
      for (const r of await c.reads.find({ _id: { $in: ids } }).toArray()) state.reads.set(r._id, { seq: r.seq, event_seq: r.event_seq });
    }
  });
  return state;
}

export async function writeBatchState(c: MongoCollections, state: BatchState, dirty: ReturnType<typeof planBatch>["dirty"]): Promise<void> {
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
  await c.run("apply batch", async () => {
    // Rows first: the message's summary is derived from them and rewritten by a redelivery anyway.
    if (reactionOps.length) await upserts(() => c.reactions.bulkWrite(reactionOps, { ordered: false }));
    if (readOps.length) await upserts(() => c.reads.bulkWrite(readOps, { ordered: false }));
    if (msgOps.length) await c.messages.bulkWrite(msgOps, { ordered: false });
  });
}

/** reply_count and last_reply_seq of a root, from its replies (idempotent by construction). */
export async function recountReplies(c: MongoCollections, root: ObjectId): Promise<void> {
  await c.run("recount replies", async () => {
    const count = await c.messages.countDocuments({ reply_to: root });
    const last = await c.messages.find({ reply_to: root }, { projection: { seq: 1 } }).sort({ seq: -1 }).limit(1).toArray();
    await c.messages.updateOne({ _id: root }, { $set: { reply_count: count, last_reply_seq: last[0]?.seq ?? 0 } });
  });
}
