// Applying a consumed batch of lifecycle entries to SQLite: read the state, let the pure rules of
// ../lifecycle change it in memory, write it back; writes only ever move forward by seq.
import type { Database } from "bun:sqlite";
import { type LifecycleEntry } from "../lifecycle";
import { batchKeys, planBatch, reactionKey, readKey, type BatchState, type Sequenced } from "../lifecycle-apply";
import { stateOf, type MsgRow } from "./sqlite-rows";

export function loadBatchState(db: Database, entries: Sequenced<LifecycleEntry>[]): BatchState {
  const keys = batchKeys(entries);
  const state: BatchState = { messages: new Map(), reactions: new Map(), reads: new Map() };
  const msg = db.query<MsgRow, [string]>("SELECT * FROM messages WHERE id = ?");
  for (const id of keys.messageIds) {
    const r = msg.get(id);
    if (r) state.messages.set(id, stateOf(r));
  }
  // Reaction counts from the rows themselves: a summary left stale by a crash is rebuilt, not trusted.
  const counts = db.query<{ emoji: string; count: number }, [string]>(
    "SELECT emoji, COUNT(*) AS count FROM reactions WHERE message_id = ? AND on_ = 1 GROUP BY emoji ORDER BY MIN(seq), emoji",
  );
  for (const id of keys.reactedIds) {
    const m = state.messages.get(id);
    if (m) m.reactions = counts.all(id);
  }
  const reaction = db.query<{ on_: number; seq: number }, [string, string, string]>("SELECT on_, seq FROM reactions WHERE message_id = ? AND user = ? AND emoji = ?");
  for (const k of keys.reactions) {
    const r = reaction.get(k.id, k.user, k.emoji);
    if (r) state.reactions.set(reactionKey(k.id, k.user, k.emoji), { on: r.on_ === 1, seq: r.seq });
  }
  const read = db.query<{ seq: number; event_seq: number }, [string, string]>("SELECT seq, event_seq FROM reads WHERE channel_id = ? AND user = ?");
  for (const k of keys.reads) {
    const r = read.get(k.channel_id, k.user);
    if (r) state.reads.set(readKey(k.channel_id, k.user), r);
  }
  return state;
}
export function writeBatchState(db: Database, state: BatchState, dirty: ReturnType<typeof planBatch>["dirty"]): void {
  const msg = db.query(
    "UPDATE messages SET data = ?, edited_at = ?, edited_seq = ?, deleted = ?, deleted_seq = ?, deleted_by = ?, reactions = ? WHERE id = ?",
  );
  for (const id of dirty.messages) {
    const m = state.messages.get(id)!;
    const reactions = m.deleted || m.reactions.length === 0 ? null : JSON.stringify(m.reactions);
    msg.run(m.deleted ? "" : (m.data ?? ""), m.edited_at ?? null, m.edited_seq, m.deleted ? 1 : 0, m.deleted_seq, m.deleted_by ?? null, reactions, id);
  }
  const reaction = db.query(
    `INSERT INTO reactions (message_id, user, emoji, channel_id, on_, seq, to_user, author) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (message_id, user, emoji) DO UPDATE SET on_ = excluded.on_, seq = excluded.seq WHERE excluded.seq > reactions.seq`,
  );
  for (const key of dirty.reactions) {
    const [id, user, emoji] = JSON.parse(key) as [string, string, string];
    const r = state.reactions.get(key)!;
    const m = state.messages.get(id)!;
    reaction.run(id, user, emoji, m.channel_id, r.on ? 1 : 0, r.seq, m.to, m.from);
  }
  const read = db.query(
    `INSERT INTO reads (channel_id, user, seq, event_seq) VALUES (?, ?, ?, ?)
     ON CONFLICT (channel_id, user) DO UPDATE SET seq = excluded.seq, event_seq = excluded.event_seq WHERE excluded.event_seq > reads.event_seq`,
  );
  for (const key of dirty.reads) {
    const [channel, user] = JSON.parse(key) as [string, string];
    const r = state.reads.get(key)!;
    read.run(channel, user, r.seq, r.event_seq);
  }
}