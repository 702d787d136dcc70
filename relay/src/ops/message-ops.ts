import type { Config } from "@chat/common/config";
import { AppError } from "@chat/common/errors";
import {
  authorizeOp,
  authorizeReply,
  isEmoji,
  isSeq,
  parseTarget,
  type LifecycleEntry,
  type MessageInfo,
  type MessageOp,
  type OpContext,
} from "@chat/common/lifecycle";
import type { Logger } from "@chat/common/log";
import { parseText } from "@chat/common/message";
import type { Metrics } from "@chat/common/metrics";
import { isObjectId } from "@chat/common/ids";
import type { Appender } from "../appender";
import { roleIn, type Standing } from "../channel-cache";
import type { SocketRegistry } from "../registry";
import type { WS } from "../socket";

/** A stored message as the controller answers GetMessage (null: no such message in that team). */
export type MessageLookup = (channelId: string, id: string) => Promise<MessageInfo | null>;

export interface MessageOpsDeps {
  limits: Config["limits"];
  sockets: SocketRegistry;
  appender: Appender;
  /** The team as the relay caches it; throws `unavailable` when it cannot be loaded. */
  standing: (channelId: string, user: string) => Promise<Standing>;
  lookup: MessageLookup;
  logger: Logger;
  metrics: Metrics;
}
export type OpHandler = (ws: WS, frame: Record<string, unknown>, clientMsgId: string | undefined) => Promise<void>;

const invalid = (m: string) => new AppError("invalid_message", m);
/** How long, and how many, acked deletes a relay remembers (the store applies them within milliseconds normally). */
const RECENT_DELETE_MS = 60_000;
const MAX_RECENT_DELETES = 10_000;

/** Frame → op, per op: only the fields the op names are read. */
const PARSE: Record<MessageOp["op"], (o: Record<string, unknown>, limits: Config["limits"]) => MessageOp> = {
  edit: (o, limits) => ({ op: "edit", ...parseTarget(o), data: parseText(o.data, limits) }),
  delete: (o) => ({ op: "delete", ...parseTarget(o) }),
  react: (o) => {
    if (!isEmoji(o.emoji)) throw invalid("emoji must be 1-32 characters without whitespace");
    if (o.on !== undefined && typeof o.on !== "boolean") throw invalid("on must be true or false");
    return { op: "react", ...parseTarget(o), emoji: o.emoji, on: o.on ?? true };
  },
  read: (o) => {
    if (!isObjectId(o.channel_id)) throw invalid("channel_id must be a team id (24 lowercase hex)");
    if (!isSeq(o.seq)) throw invalid("seq must be a non-negative integer");
    return { op: "read", channel_id: o.channel_id, seq: o.seq };
  },
};

export function opAckFrame(op: string, ack: { id?: string; seq: number; ts: string }, clientMsgId?: string): string {
  const f: Record<string, unknown> = { event: "ack", op };
  if (clientMsgId) f.client_msg_id = clientMsgId;
  if (ack.id) f.id = ack.id;
  f.seq = ack.seq;
  f.ts = ack.ts;
  return JSON.stringify(f);
}

/**
 * The lifecycle ops of section 9 (edit, delete, react, read), one handler each around the shared
 * rules (`authorizeOp`): the team from the cache, the target from the controller, the entry
 * appended, the ack once it is durable. Errors are thrown to the caller's error path.
 */
export class MessageOps {
  /**
   * Deletes this relay acked, for a while: the store may not have applied one yet when the same
   * client's next op on that message is checked, and a deleted message must answer `not_found` at
   * once (read your writes). Bounded; a delete acked by another relay is applied in log order all the
   * same (an op after it takes no effect), only its answer may be an ack instead of `not_found`.
   */
  private readonly deleted = new Map<string, number>();

  constructor(private readonly deps: MessageOpsDeps) {}

  handlers(): Record<MessageOp["op"], OpHandler> {
    const h = (op: MessageOp["op"]): OpHandler => (ws, frame, cmid) => this.run(ws, PARSE[op](frame, this.deps.limits), cmid);
    return { edit: h("edit"), delete: h("delete"), react: h("react"), read: h("read") };
  }

  /** The context the rules decide in: the actor's role on this connection, the team's state, the target. */
  async context(ws: WS, channelId: string, targetId?: string): Promise<OpContext> {
    if (!ws.data.channels.has(channelId)) throw new AppError("forbidden", "not a member of this team on this connection");
    const info = await this.deps.standing(channelId, ws.data.user);
    if (!info.found) throw new AppError("not_found", "no such team");
    const role = roleIn(info);
    // Authorization first: a non-member learns nothing about the team's messages.
    let target = role === "none" || targetId === undefined ? null : await this.lookup(channelId, targetId);
    if (target && !target.deleted && this.recentlyDeleted(channelId, target.id)) target = { ...target, deleted: true };
    return { actor: ws.data.user, role, active: info.active, target };
  }

  /** A reply's thread root (PROTOCOL section 9: a reply to a reply attaches to its root). */
  async replyRoot(ws: WS, channelId: string, to: string, replyTo: string): Promise<string> {
    return authorizeReply(channelId, to, await this.context(ws, channelId, replyTo));
  }

  private async run(ws: WS, op: MessageOp, clientMsgId: string | undefined): Promise<void> {
    const { appender, sockets, metrics } = this.deps;
    const ctx = await this.context(ws, op.channel_id, op.op === "read" ? undefined : op.id);
    const entry = authorizeOp(op, ctx);
    const t0 = performance.now();
    const seq = await appender.append({ channelId: op.channel_id, value: JSON.stringify(entry) });
    metrics.appendSeconds.observe((performance.now() - t0) / 1000);
    if (entry.kind === "message_deleted") this.rememberDelete(op.channel_id, entry.id);
    metrics.messagesIn.inc({ outcome: "accepted" });
    if (!ws.data.closed) sockets.send(ws, opAckFrame(op.op, { id: entry.kind === "read" ? undefined : entry.id, seq, ts: tsOf(entry) }, clientMsgId));
  }

  private rememberDelete(channelId: string, id: string): void {
    const key = `${channelId}/${id}`;
    this.deleted.delete(key);
    this.deleted.set(key, performance.now() + RECENT_DELETE_MS);
    for (const [k, until] of this.deleted) {
      if (until > performance.now() && this.deleted.size <= MAX_RECENT_DELETES) break;
      this.deleted.delete(k);
    }
  }

  private recentlyDeleted(channelId: string, id: string): boolean {
    const until = this.deleted.get(`${channelId}/${id}`);
    return until !== undefined && until > performance.now();
  }

  private async lookup(channelId: string, id: string): Promise<MessageInfo | null> {
    try {
      return await this.deps.lookup(channelId, id);
    } catch (err) {
      this.deps.logger.warn("message lookup failed", { channel_id: channelId, err: String(err) });
      throw new AppError("unavailable", "message service unavailable");
    }
  }
}

const tsOf = (e: LifecycleEntry) => (e.kind === "message_edited" ? e.edited_at : e.ts);
