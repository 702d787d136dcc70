import type { MessageDeletedEvent, MessageEditedEvent, MessageEvent, ReactionEvent } from "../protocol";
import { bumpSeq, type ChannelState } from "./channel-state";

// What happens to a message after it was sent: edits, deletes, reactions, replies to it.
// Each replaces the message object, so a UI can compare by identity.

export function applyEdit(c: ChannelState, f: MessageEditedEvent): void {
  const m = c.messages.get(f.id);
  if (m && !m.deleted) c.messages.set(f.id, { ...m, data: f.data, edited_at: f.edited_at });
  bumpSeq(c, f.seq);
}

/** The content and reactions go; a deleted message no longer counts as unread. */
export function applyDelete(c: ChannelState, f: MessageDeletedEvent): void {
  const m = c.messages.get(f.id);
  if (m) c.messages.set(f.id, { ...m, data: undefined, deleted: true, reactions: [] });
  c.liveUnread = c.liveUnread.filter((u) => u.seq !== m?.seq);
  bumpSeq(c, f.seq);
}

export function applyReaction(c: ChannelState, f: ReactionEvent, me: string | undefined): void {
  bumpSeq(c, f.seq);
  const m = c.messages.get(f.id);
  if (!m) return;
  const mine = f.user === me;
  const reactions = m.reactions.map((r) => ({ ...r }));
  const r = reactions.find((x) => x.emoji === f.emoji);
  if (f.event === "reaction_added") {
    if (r) {
      r.count++;
      r.me ||= mine;
    } else reactions.push({ emoji: f.emoji, count: 1, me: mine });
  } else if (r) {
    r.count--;
    if (mine) r.me = false;
  }
  c.messages.set(f.id, { ...m, reactions: reactions.filter((x) => x.count > 0) });
}

/** A new reply counts on its thread's root, when the root is loaded. */
export function countReply(c: ChannelState, f: MessageEvent): void {
  if (!f.reply_to) return;
  const root = c.messages.get(f.reply_to);
  if (root) c.messages.set(root.id, { ...root, reply_count: root.reply_count + 1, last_reply_seq: Math.max(root.last_reply_seq ?? 0, f.seq) });
}
