import { AppError } from "./errors";
import { isObjectId } from "./ids";
import { canSee, type MessageType } from "./message";
import type { Role } from "./teams";

/**
 * The message lifecycle (PROTOCOL section 9) as two pure rule sets: `authorizeOp` decides, before
 * anything is appended, whether an actor may do an op to a message as stored (both transports call
 * it); `applyOp` (./lifecycle-apply.ts) applies a log entry to the stored state at its seq,
 * idempotently, and says whether it took effect. Races (an edit after a delete, a 21st emoji) are settled by `applyOp` in log
 * order: an op acked by the relay or REST can turn out to change nothing, and then no event is sent.
 */

export const MAX_DISTINCT_EMOJI = 20;
export const MAX_EMOJI_CHARS = 32;

/** `to` and `author` copy the target message's audience, so relays route without a lookup. */
export interface EditedEntry {
  kind: "message_edited";
  channel_id: string;
  id: string;
  data: string;
  edited_at: string;
  by: string;
  to: string;
  author: string;
}
export interface DeletedEntry {
  kind: "message_deleted";
  channel_id: string;
  id: string;
  by: string;
  to: string;
  author: string;
  ts: string;
}
export interface ReactionEntry {
  kind: "reaction";
  channel_id: string;
  id: string;
  emoji: string;
  user: string;
  on: boolean;
  to: string;
  author: string;
  ts: string;
}
/** `seq` is the marker asked for; it takes effect clamped to the entry's own seq (nothing after it was read). */
export interface ReadEntry {
  kind: "read";
  channel_id: string;
  user: string;
  seq: number;
  ts: string;
}
export type LifecycleEntry = EditedEntry | DeletedEntry | ReactionEntry | ReadEntry;
export const LIFECYCLE_KINDS = ["message_edited", "message_deleted", "reaction", "read"] as const;
const LIFECYCLE = new Set<string>(LIFECYCLE_KINDS);
export const isLifecycleEntry = (e: { kind: string }): e is LifecycleEntry => LIFECYCLE.has(e.kind);

/** A message as the rules need it: who wrote it, to whom, and what state it is in. */
export interface MessageInfo {
  id: string;
  channel_id: string;
  seq: number;
  from: string;
  to: string;
  type: MessageType;
  deleted: boolean;
  /** The thread root, when the message is a reply. */
  reply_to?: string;
  /** Distinct emoji with at least one reaction, oldest first. */
  emoji: string[];
}

// ---------------------------------------------------------------------------------------------
// Authorization (before the append)

/** An op as both transports parse it (the relay from a frame, management from a route). */
export type MessageOp =
  | { op: "edit"; channel_id: string; id: string; data: string }
  | { op: "delete"; channel_id: string; id: string }
  | { op: "react"; channel_id: string; id: string; emoji: string; on: boolean }
  | { op: "read"; channel_id: string; seq: number };
export type OpName = MessageOp["op"];

export interface OpContext {
  actor: string;
  /** The actor's role in the op's team ("none": not a member, or no such team). */
  role: Role;
  /** Whether the team accepts changes. */
  active: boolean;
  /** The target message as stored (null: unknown). Unused by `read`. */
  target: MessageInfo | null;
}

const forbid = (m: string) => new AppError("forbidden", m);
const gone = () => new AppError("not_found", "no such message");
const inactive = () => new AppError("conflict", "team is inactive");

/** The target the actor may act on: in this team, visible to them (a DM of others does not exist for them), not deleted. */
function visibleTarget(channelId: string, ctx: OpContext, opts: { deletedOk?: boolean } = {}): MessageInfo {
  const m = ctx.target;
  if (!m || m.channel_id !== channelId || !canSee(m, ctx.actor)) throw gone();
  if (m.deleted && !opts.deletedOk) throw gone();
  return m;
}

/**
 * Whether `ctx.actor` may do `op`, and the log entry that does it. Permission is decided before
 * state: a non-member is `forbidden` whatever the message, a non-author editing is `forbidden`
 * whether or not the team is active. Throws AppError (forbidden, not_found, conflict, too_large, invalid_message).
 */
export function authorizeOp(op: MessageOp, ctx: OpContext, now = new Date()): LifecycleEntry {
  if (ctx.role === "none") throw forbid("not a member of this team");
  const ts = now.toISOString();
  switch (op.op) {
    case "edit": {
      const m = visibleTarget(op.channel_id, ctx);
      if (m.from !== ctx.actor) throw forbid("only the author can edit a message");
      if (m.type !== "text") throw new AppError("invalid_message", "only text messages can be edited");
      if (!ctx.active) throw inactive();
      return { kind: "message_edited", channel_id: op.channel_id, id: m.id, data: op.data, edited_at: ts, by: ctx.actor, to: m.to, author: m.from };
    }
    case "delete": {
      const m = visibleTarget(op.channel_id, ctx, { deletedOk: true }); // deleting twice is acked and changes nothing
      if (m.from !== ctx.actor && ctx.role === "user") throw forbid("only the author or an admin can delete a message");
      return { kind: "message_deleted", channel_id: op.channel_id, id: m.id, by: ctx.actor, to: m.to, author: m.from, ts };
    }
    case "react": {
      const m = visibleTarget(op.channel_id, ctx);
      if (!ctx.active) throw inactive();
      if (op.on && !m.emoji.includes(op.emoji) && m.emoji.length >= MAX_DISTINCT_EMOJI)
        throw new AppError("too_large", `a message has at most ${MAX_DISTINCT_EMOJI} distinct emoji`);
      return { kind: "reaction", channel_id: op.channel_id, id: m.id, emoji: op.emoji, user: ctx.actor, on: op.on, to: m.to, author: m.from, ts };
    }
    case "read":
      return { kind: "read", channel_id: op.channel_id, user: ctx.actor, seq: op.seq, ts };
  }
}

/**
 * A reply (a send with `reply_to`): the thread root it attaches to. The actor must see the
 * message replied to; a reply to a reply attaches to its root; a reply to a DM must be a DM
 * between the same two users (`to` = the other one).
 */
export function authorizeReply(channelId: string, to: string, ctx: OpContext): string {
  if (ctx.role === "none") throw forbid("not a member of this team");
  const m = visibleTarget(channelId, ctx);
  if (m.to !== "*") {
    const other = m.from === ctx.actor ? m.to : m.from;
    if (to !== other) throw new AppError("invalid_message", "a reply to a direct message must be a direct message to the other party");
  }
  return m.reply_to ?? m.id;
}

// ---------------------------------------------------------------------------------------------
// Input rules shared by both transports

const EMOJI_FORBIDDEN = /[\s\p{Cc}\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/u;

/** 1–32 code points, no whitespace, no control or invisible formatting characters (ZWJ sequences are fine). */
export function isEmoji(v: unknown): v is string {
  if (typeof v !== "string" || v.length === 0 || !v.isWellFormed()) return false;
  const n = [...v].length;
  return n >= 1 && n <= MAX_EMOJI_CHARS && !EMOJI_FORBIDDEN.test(v);
}

export function isSeq(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** The target of an op frame: a team id and a message id. */
export function parseTarget(o: Record<string, unknown>): { channel_id: string; id: string } {
  if (!isObjectId(o.channel_id)) throw new AppError("invalid_message", "channel_id must be a team id (24 lowercase hex)");
  if (!isObjectId(o.id)) throw new AppError("invalid_message", "id must be a message id (24 lowercase hex)");
  return { channel_id: o.channel_id, id: o.id };
}

/** How young an id must be to be waited for, and how long at most: the store lags the log by a batch. */
const RECENT_MS = 10_000;
const MAX_WAIT_MS = 2_000;

/**
 * A message looked up right after it was sent (a client reacting to what it just saw live) may not
 * be stored yet: an unknown id minted in the last seconds is looked up again with a bounded
 * backoff (at most ~2 s) before it is taken as unknown.
 */
export async function getRecentMessage(get: () => Promise<MessageInfo | null>, id: string, signal?: AbortSignal): Promise<MessageInfo | null> {
  const mintedAt = parseInt(id.slice(0, 8), 16) * 1000;
  const deadline = Date.now() + MAX_WAIT_MS;
  let m = await get();
  for (let pause = 20; !m && Date.now() - mintedAt < RECENT_MS && Date.now() + pause <= deadline && !signal?.aborted; pause *= 2) {
    await Bun.sleep(pause);
    m = await get();
  }
  return m;
}
