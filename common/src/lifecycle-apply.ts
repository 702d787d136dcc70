/**
 * The message lifecycle at consume time (PROTOCOL section 9): `applyOp` applies a log entry to the
 * stored state at its seq, idempotently, and says whether it took effect; `planBatch` does it for a
 * consumed batch in log order, for the stores to write back.
 */
import { MAX_DISTINCT_EMOJI, type LifecycleEntry } from "./lifecycle";
import type { MessageType } from "./message";

export interface ReactionCount {
  emoji: string;
  count: number;
}

/** A stored message as `applyOp` changes it. */
export interface MessageState {
  id: string;
  channel_id: string;
  from: string;
  to: string;
  type: MessageType;
  deleted: boolean;
  data?: string;
  edited_at?: string;
  /** 0 when never edited / not deleted. */
  edited_seq: number;
  deleted_seq: number;
  deleted_by?: string;
  /** Emoji with at least one reaction, oldest first. */
  reactions: ReactionCount[];
}
/** One user's reaction with one emoji to one message; kept with on=false once removed, so resume replays removals. */
export interface ReactionState {
  on: boolean;
  seq: number;
}
/** One user's read marker in one team: the marker, and the seq of the entry that set it. */
export interface ReadState {
  seq: number;
  event_seq: number;
}
/** What an entry touches: the message (edit, delete, reaction), the reaction row, the read row. */
export interface OpState {
  message: MessageState | null;
  reaction: ReactionState | null;
  read: ReadState | null;
}

/**
 * Applies `entry`, found at `seq` in the log, to the state it touches. `effective` is the entry as
 * it took effect (a read's marker clamped), or null when it changed nothing; an entry the state
 * already reflects (a redelivered batch) is effective again but changes nothing, so its event can
 * be published again (relays drop duplicates by seq) and is never lost to a crash before publishing.
 */
export function applyOp(state: OpState, entry: LifecycleEntry, seq: number): { next: OpState; effective: LifecycleEntry | null } {
  const none = { next: state, effective: null };
  if (entry.kind === "read") {
    const r = state.read;
    if (r && r.event_seq === seq) return { next: state, effective: { ...entry, seq: r.seq } };
    const marker = Math.min(entry.seq, seq);
    if (r && (r.event_seq > seq || marker <= r.seq)) return none;
    return { next: { ...state, read: { seq: marker, event_seq: seq } }, effective: { ...entry, seq: marker } };
  }
  const m = state.message;
  // Nothing is ever done to a deleted message, and its content is never published again.
  if (!m || m.channel_id !== entry.channel_id || m.id !== entry.id) return none;
  switch (entry.kind) {
    case "message_edited": {
      if (m.deleted || m.from !== entry.by || m.type !== "text" || m.edited_seq > seq) return none;
      if (m.edited_seq === seq) return { next: state, effective: entry };
      return { next: { ...state, message: { ...m, data: entry.data, edited_at: entry.edited_at, edited_seq: seq } }, effective: entry };
    }
    case "message_deleted": {
      if (m.deleted) return m.deleted_seq === seq ? { next: state, effective: entry } : none;
      const { data: _gone, ...rest } = m;
      return { next: { ...state, message: { ...rest, deleted: true, deleted_seq: seq, deleted_by: entry.by } }, effective: entry };
    }
    case "reaction": {
      if (m.deleted) return none;
      const row = state.reaction;
      if (row && row.seq === seq) return { next: state, effective: entry };
      if (row && row.seq > seq) return none;
      if ((row?.on ?? false) === entry.on) return none; // adding twice, removing what is not there
      const at = m.reactions.findIndex((r) => r.emoji === entry.emoji);
      let reactions: ReactionCount[];
      if (entry.on) {
        if (at < 0 && m.reactions.length >= MAX_DISTINCT_EMOJI) return none;
        reactions = at < 0 ? [...m.reactions, { emoji: entry.emoji, count: 1 }] : m.reactions.map((r, i) => (i === at ? { ...r, count: r.count + 1 } : r));
      } else {
        reactions = m.reactions.flatMap((r, i) => (i !== at ? [r] : r.count > 1 ? [{ ...r, count: r.count - 1 }] : []));
      }
      return { next: { ...state, message: { ...m, reactions }, reaction: { on: entry.on, seq } }, effective: entry };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Batches: what a store loads, applies in log order, and writes back

export interface Sequenced<E> {
  seq: number;
  entry: E;
}

export const reactionKey = (id: string, user: string, emoji: string) => JSON.stringify([id, user, emoji]);
export const readKey = (channelId: string, user: string) => JSON.stringify([channelId, user]);

/** The stored state a batch touches, keyed as above; adapters load it, `planBatch` changes it in place. */
export interface BatchState {
  messages: Map<string, MessageState>;
  reactions: Map<string, ReactionState>;
  reads: Map<string, ReadState>;
}

/** What an adapter must load before applying `entries`. */
export function batchKeys(entries: Sequenced<LifecycleEntry>[]) {
  const messageIds = new Set<string>();
  const reactedIds = new Set<string>();
  const reactions = new Map<string, { id: string; user: string; emoji: string }>();
  const reads = new Map<string, { channel_id: string; user: string }>();
  for (const { entry: e } of entries) {
    if (e.kind === "read") reads.set(readKey(e.channel_id, e.user), { channel_id: e.channel_id, user: e.user });
    else {
      messageIds.add(e.id);
      if (e.kind === "reaction") {
        reactedIds.add(e.id);
        reactions.set(reactionKey(e.id, e.user, e.emoji), { id: e.id, user: e.user, emoji: e.emoji });
      }
    }
  }
  return { messageIds: [...messageIds], reactedIds: [...reactedIds], reactions: [...reactions.values()], reads: [...reads.values()] };
}

/**
 * Applies a batch in log order to `state` (changed in place) and returns, aligned with `entries`,
 * each entry as it took effect or null, and the keys whose state changed and must be written.
 */
export function planBatch(entries: Sequenced<LifecycleEntry>[], state: BatchState) {
  const dirty = { messages: new Set<string>(), reactions: new Set<string>(), reads: new Set<string>() };
  const effective = entries.map(({ entry, seq }) => {
    const rk = entry.kind === "reaction" ? reactionKey(entry.id, entry.user, entry.emoji) : undefined;
    const dk = entry.kind === "read" ? readKey(entry.channel_id, entry.user) : undefined;
    const before: OpState = {
      message: entry.kind === "read" ? null : (state.messages.get(entry.id) ?? null),
      reaction: rk ? (state.reactions.get(rk) ?? null) : null,
      read: dk ? (state.reads.get(dk) ?? null) : null,
    };
    const { next, effective } = applyOp(before, entry, seq);
    if (next.message && next.message !== before.message) state.messages.set(next.message.id, next.message), dirty.messages.add(next.message.id);
    if (rk && next.reaction && next.reaction !== before.reaction) state.reactions.set(rk, next.reaction), dirty.reactions.add(rk);
    if (dk && next.read && next.read !== before.read) state.reads.set(dk, next.read), dirty.reads.add(dk);
    return effective;
  });
  return { effective, dirty };
}
