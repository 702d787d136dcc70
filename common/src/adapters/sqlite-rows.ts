// The standalone store's message rows and their mapping to the ports' types.
import type { MessageState, ReactionCount } from "../lifecycle-apply";
import type { MessageView, StoredMessage } from "../message";

export type MsgRow = {
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
export function fromRow(r: MsgRow): StoredMessage {
  const m: StoredMessage = { id: r.id, channel_id: r.channel_id, seq: r.seq, to: r.to_user, from: r.from_user, type: r.type as StoredMessage["type"], data: r.data, ts: r.ts };
  if (r.client_msg_id) m.client_msg_id = r.client_msg_id;
  if (r.reply_to) m.reply_to = r.reply_to;
  return m;
}
export const summaryOf = (r: MsgRow): ReactionCount[] => (r.reactions ? (JSON.parse(r.reactions) as ReactionCount[]) : []);

/** The current state of a message for `viewer` (`mine`: the emoji they reacted with; omitted on resume). */
export function viewOf(r: MsgRow, mine?: Set<string>): MessageView {
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

export function stateOf(r: MsgRow): MessageState {
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
