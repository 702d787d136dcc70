import { expect, test } from "bun:test";
import { frameOf } from "./message";

const ch = "507f191e810c19729de860ea";

test("frameOf renders a message frame with server fields", () => {
  const f = JSON.parse(frameOf({ kind: "message", id: "a".repeat(24), channel_id: ch, to: "*", type: "text", data: "hi", from: "u", ts: "t" }, 7));
  expect(f).toEqual({ event: "message", id: "a".repeat(24), seq: 7, channel_id: ch, to: "*", type: "text", data: "hi", ts: "t", from: "u" });
});

test("frames carry reply_to; lifecycle frames carry the entry's seq", () => {
  const m = JSON.parse(frameOf({ kind: "message", id: "a".repeat(24), channel_id: ch, to: "*", type: "text", data: "hi", from: "u", ts: "t", reply_to: "b".repeat(24) }, 7));
  expect(m.reply_to).toBe("b".repeat(24));
  expect(JSON.parse(frameOf({ kind: "read", channel_id: ch, user: "u", seq: 5, ts: "t" }, 9))).toEqual({ event: "read", channel_id: ch, seq: 9, user: "u", last_read_seq: 5 });
  expect(JSON.parse(frameOf({ kind: "reaction", channel_id: ch, id: "m", emoji: "👍", user: "u", on: false, to: "*", author: "a", ts: "t" }, 9))).toEqual({
    event: "reaction_removed",
    channel_id: ch,
    id: "m",
    seq: 9,
    emoji: "👍",
    user: "u",
  });
  expect(JSON.parse(frameOf({ kind: "message_deleted", channel_id: ch, id: "m", by: "u", to: "*", author: "a", ts: "t" }, 9))).toEqual({ event: "message_deleted", channel_id: ch, id: "m", seq: 9, by: "u" });
});
