import { expect, test } from "bun:test";
import { newChannelState } from "./channel-state";
import { applyRead, noteLiveUnread, unreadCount } from "./unread";

test("a read event moves the marker to its last_read_seq, not to its own seq: a message that came in between stays unread", () => {
  const c = newChannelState("6b06d90e68a988520eac2a79");
  noteLiveUnread(c, { event: "message", id: "m", seq: 7, channel_id: c.id, to: "me", type: "text", data: "psst", ts: "t", from: "alice" } as any, "me");
  expect(unreadCount(c)).toBe(1);
  // The read entry was appended after the DM (seq 9), but marks only up to 5.
  applyRead(c, { event: "read", channel_id: c.id, seq: 9, user: "me", last_read_seq: 5 }, "me");
  expect(unreadCount(c)).toBe(1);
  applyRead(c, { event: "read", channel_id: c.id, seq: 10, user: "me", last_read_seq: 7 }, "me");
  expect(unreadCount(c)).toBe(0);
});
