import { describe, expect, test } from "bun:test";
import { ChatConnection } from "./connection";
import type { ServerEvent, StoredMessage } from "./protocol";
import { RestClient } from "./rest";
import { ChatStore } from "./view";

const TEAM = "6b0c3c942efa29a8ae9e64ec";
const ME = "alice@example.dev";
const BOB = "bob@example.dev";
const id = (n: number) => n.toString(16).padStart(24, "0");
const ts = "2026-11-25T06:00:00.000Z";

/** A store fed by hand: `apply` is what the connection calls for each frame. */
function storeWith(history: StoredMessage[] = [], now = () => Date.now()) {
  const fetch = async (url: string) => {
    const u = new URL(url);
    const before = Number(u.searchParams.get("before") ?? Infinity);
    const limit = Number(u.searchParams.get("limit") ?? 50);
    const page = history.filter((m) => m.seq < before).sort((a, b) => b.seq - a.seq).slice(0, limit);
    return Response.json({ data: page, next: page.length === limit ? page[page.length - 1]!.seq : null });
  };
  const connection = new ChatConnection({ baseUrl: "http://127.0.0.1:1", token: () => "t" });
  connection.user = ME;
  const store = new ChatStore(connection, new RestClient({ baseUrl: "http://127.0.0.1:1", token: () => "t", fetch }), { pageSize: 2, now });
  const feed = (...frames: ServerEvent[]) => frames.forEach((f) => store.apply(f));
  return { store, feed, connection };
}
const message = (seq: number, extra: Record<string, unknown> = {}) =>
  ({ event: "message", id: id(seq), seq, channel_id: TEAM, to: "*", type: "text", data: `m${seq}`, ts, from: BOB, ...extra }) as ServerEvent;

describe("ChatStore", () => {
  test("history pages and live messages merge in seq order, once each", async () => {
    const history: StoredMessage[] = [1, 2, 3].map((seq) => ({ id: id(seq), seq, channel_id: TEAM, to: "*", type: "text", data: `m${seq}`, ts, from: BOB }));
    const { store, feed, connection } = storeWith(history);
    feed(message(4), message(3));
    expect(await store.loadOlder(TEAM)).toBe(1); // newest page: 3 (had it), 2
    expect(connection.lastSeq.get(TEAM)).toBe(3); // history seeds the resume point for a quiet channel
    expect(store.channel(TEAM).hasMore).toBe(true);
    await store.loadOlder(TEAM);
    expect(store.channel(TEAM).hasMore).toBe(false);
    expect(store.timeline(TEAM).map((m) => m.seq)).toEqual([1, 2, 3, 4]);
  });

  test("edits, deletes and reactions change the message in place; a delete drops the content", () => {
    const { store, feed } = storeWith();
    feed(message(1), message(2, { from: ME }));
    feed({ event: "message_edited", channel_id: TEAM, id: id(1), seq: 3, data: "fixed", edited_at: ts, by: BOB });
    feed({ event: "reaction_added", channel_id: TEAM, id: id(1), seq: 4, emoji: "👍", user: ME });
    feed({ event: "reaction_added", channel_id: TEAM, id: id(1), seq: 5, emoji: "👍", user: BOB });
    feed({ event: "reaction_removed", channel_id: TEAM, id: id(1), seq: 6, emoji: "👍", user: ME });
    feed({ event: "reaction_added", channel_id: TEAM, id: id(2), seq: 7, emoji: "🎉", user: BOB });
    feed({ event: "message_deleted", channel_id: TEAM, id: id(2), seq: 8, by: ME });
    const [one, two] = store.timeline(TEAM);
    expect(one).toMatchObject({ data: "fixed", edited_at: ts, reactions: [{ emoji: "👍", count: 1, me: false }] });
    expect(two).toMatchObject({ deleted: true, reactions: [] });
    expect(two!.data).toBeUndefined();
    // Edits of a deleted message never bring the content back.
    feed({ event: "message_edited", channel_id: TEAM, id: id(2), seq: 9, data: "again", edited_at: ts, by: ME });
    expect(store.timeline(TEAM)[1]!.data).toBeUndefined();
  });

  test("replies form threads under their root; the timeline holds roots only", () => {
    const { store, feed } = storeWith();
    feed(message(1), message(2, { reply_to: id(1), from: ME }), message(3), message(4, { reply_to: id(1) }));
    expect(store.timeline(TEAM).map((m) => m.seq)).toEqual([1, 3]);
    expect(store.thread(TEAM, id(1)).map((m) => m.seq)).toEqual([1, 2, 4]);
    expect(store.timeline(TEAM)[0]).toMatchObject({ reply_count: 2, last_reply_seq: 4 });
  });

  test("DMs are their own conversations; unread counts others' messages after the read marker", () => {
    const { store, feed } = storeWith();
    feed(message(1), message(2, { to: ME }), message(3, { from: ME, to: BOB }), message(4, { from: ME }));
    expect(store.timeline(TEAM, "*").map((m) => m.seq)).toEqual([1, 4]);
    expect(store.timeline(TEAM, BOB).map((m) => m.seq)).toEqual([2, 3]);
    expect(store.unread(TEAM)).toBe(2);
    expect(store.unread(TEAM, BOB)).toBe(1);
    // Another device of mine read up to 1 (§9 `read` goes only to my sockets).
    feed({ event: "read", channel_id: TEAM, seq: 1, user: ME });
    expect(store.unread(TEAM)).toBe(1);
    store.markRead(TEAM);
    expect(store.unread(TEAM)).toBe(0);
    feed(message(5));
    expect(store.unread(TEAM, "*")).toBe(1);
    // Reading the team's conversation leaves a newer DM unread: the marker stops before it.
    feed(message(6, { to: ME }), message(7));
    store.markRead(TEAM, "*");
    expect([store.unread(TEAM, "*"), store.unread(TEAM, BOB)]).toEqual([1, 1]);
    store.markRead(TEAM, BOB);
    expect([store.unread(TEAM, "*"), store.unread(TEAM, BOB)]).toEqual([1, 0]);
    store.markRead(TEAM, "*");
    expect(store.unread(TEAM)).toBe(0);
  });

  test("the server's unread count (§9) is the base; live messages add to it until read", () => {
    const { store, feed } = storeWith();
    (store as unknown as { setTeam(t: object): void }).setTeam({ id: TEAM, name: "T", active: true, meta_tags: [], super_admin: BOB, doc: ts, last_seq: 10, last_read_seq: 7, unread: 2 });
    expect(store.unread(TEAM)).toBe(2);
    feed(message(11));
    expect(store.unread(TEAM)).toBe(3);
    feed({ event: "read", channel_id: TEAM, seq: 11, user: ME });
    expect(store.unread(TEAM)).toBe(0);
  });

  test("typing shows for typing_ttl_ms or until that user's message; presence follows batches", () => {
    let now = 1_000_000;
    const { store, feed } = storeWith([], () => now);
    feed({ event: "typing", channel_id: TEAM, user: BOB, to: "*" }, { event: "typing", channel_id: TEAM, user: "carol@example.dev", to: ME });
    expect(store.typingIn(TEAM)).toEqual([BOB]);
    expect(store.typingIn(TEAM, "carol@example.dev")).toEqual(["carol@example.dev"]);
    feed(message(1));
    expect(store.typingIn(TEAM)).toEqual([]);
    now += 6_001;
    expect(store.typingIn(TEAM, "carol@example.dev")).toEqual([]);
    feed({ event: "presence", channel_id: TEAM, online: [BOB, "carol@example.dev"], offline: [] });
    feed({ event: "presence", channel_id: TEAM, online: [], offline: [BOB] });
    expect([...store.channel(TEAM).online]).toEqual(["carol@example.dev"]);
  });

  test("membership events keep roles; channel_left drops the team", () => {
    const { store, feed } = storeWith();
    feed({ event: "member_joined", channel_id: TEAM, user: BOB, by: ME, seq: 1 });
    feed({ event: "admin_added", channel_id: TEAM, user: BOB, by: ME, seq: 2 });
    expect(store.roleOf(TEAM, BOB)).toBe("admin");
    feed({ event: "admin_removed", channel_id: TEAM, user: BOB, by: ME, seq: 3 }, { event: "member_left", channel_id: TEAM, user: BOB, by: ME, seq: 4 });
    expect(store.roleOf(TEAM, BOB)).toBeUndefined();
    feed({ event: "channel_left", channel_id: TEAM });
    expect(store.channel(TEAM).left).toBe(true);
  });

  test("a second copy of one send (same sender and client_msg_id, new id) is shown once: the later one, which the server kept", () => {
    const { store, feed } = storeWith();
    feed(message(1, { client_msg_id: "c-1" }), message(2, { client_msg_id: "c-1" }), message(1, { client_msg_id: "c-1" }));
    expect(store.timeline(TEAM).map((m) => m.id)).toEqual([id(2)]);
  });

  test("the replaced copy leaves no trace (its reply count, its unread mark); a key reused past the dedupe window is another message", () => {
    const { store, feed } = storeWith();
    feed(message(1));
    feed(message(2, { client_msg_id: "c-1", reply_to: id(1) }), message(3, { client_msg_id: "c-1", reply_to: id(1) }));
    expect(store.thread(TEAM, id(1)).map((m) => m.id)).toEqual([id(1), id(3)]);
    expect(store.timeline(TEAM)[0]!.reply_count).toBe(1);
    expect(store.unread(TEAM)).toBe(2); // 1 and 3, not the dropped 2
    const later = new Date(Date.parse(ts) + 301_000).toISOString();
    feed(message(9, { client_msg_id: "c-1", ts: later }));
    expect(store.timeline(TEAM).map((m) => m.id)).toEqual([id(1), id(9)]);
    expect(store.thread(TEAM, id(1)).map((m) => m.id)).toEqual([id(1), id(3)]); // still there
  });

  test("a send that fails after its echo was shown stays shown, marked unconfirmed; a failed one never shown is a failed pending send", async () => {
    const { store, feed, connection } = storeWith();
    const fails: ((e: Error) => void)[] = [];
    let n = 0;
    connection.send = ((frame: object) => {
      const clientMsgId = `c-${++n}`;
      return { clientMsgId, acked: new Promise((_, reject) => fails.push(reject)), frame };
    }) as never;
    const shown = store.send(TEAM, { data: "hi" }).catch((e: Error) => e);
    const hidden = store.send(TEAM, { data: "lost" }).catch((e: Error) => e);
    feed(message(5, { from: ME, data: "hi", client_msg_id: "c-1" }));
    fails[0]!(new Error("not acknowledged within the dedupe window"));
    fails[1]!(new Error("closed"));
    await Promise.all([shown, hidden]);
    expect(store.timeline(TEAM).map((m) => [m.data, m.unconfirmed])).toEqual([["hi", "not acknowledged within the dedupe window"]]);
    expect(store.pendingIn(TEAM).map((p) => [p.data, p.status])).toEqual([["lost", "failed"]]);
    expect([store.delivered(TEAM, "c-1"), store.delivered(TEAM, "c-2")]).toEqual([true, false]);
  });

  test("an echo that arrives after its send failed replaces the failed send, marked unconfirmed", async () => {
    const { store, feed, connection } = storeWith();
    let fail!: (e: Error) => void;
    connection.send = ((frame: object) => ({ clientMsgId: "c-1", acked: new Promise((_, reject) => (fail = reject)), frame })) as never;
    const sent = store.send(TEAM, { data: "late" }).catch((e: Error) => e);
    fail(new Error("not acknowledged within the dedupe window"));
    await sent;
    expect(store.pendingIn(TEAM).map((p) => p.status)).toEqual(["failed"]);
    feed(message(7, { from: ME, data: "late", client_msg_id: "c-1" }));
    expect(store.pendingIn(TEAM)).toEqual([]);
    expect(store.timeline(TEAM).map((m) => [m.data, m.unconfirmed])).toEqual([["late", "not acknowledged within the dedupe window"]]);
    expect(store.delivered(TEAM, "c-1")).toBe(true);
  });

  test("a send whose echo the server lost (power loss before its fsync) shows the message of its ack", async () => {
    const { store, feed, connection } = storeWith();
    const acks: ((a: { client_msg_id: string; id: string; seq: number; ts: string }) => void)[] = [];
    connection.send = ((frame: object) => {
      const clientMsgId = "c-9";
      return { clientMsgId, acked: new Promise((resolve) => acks.push(resolve as never)), frame };
    }) as never;
    const sent = store.send(TEAM, { data: "hi" });
    feed(message(5, { from: ME, data: "hi", client_msg_id: "c-9" })); // the echo of the lost message
    expect(store.timeline(TEAM).map((m) => m.id)).toEqual([id(5)]);
    acks[0]!({ client_msg_id: "c-9", id: id(9), seq: 9, ts }); // the resend's ack: a new message
    await sent;
    expect(store.timeline(TEAM).map((m) => [m.id, m.data])).toEqual([[id(9), "hi"]]);
  });
});
