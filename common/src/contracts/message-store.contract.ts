// The MessageStore contract, one suite every adapter runs (a little over 300 lines: one describe, many cases).
import { describe, expect, test } from "bun:test";
import { tracked } from "./tracked";
import { objectId } from "../ids";
import type { LifecycleEntry } from "../lifecycle";
import { clientMsgKey, type ChatMessage, type MessageView, type StoredMessage } from "../message";
import type { MessageStore, ReplayItem, StoreEntry } from "../ports";

type MsgEntry = { kind: "message" } & ChatMessage;

export function messageStoreContract(name: string, make: () => Promise<MessageStore>) {
  describe(`MessageStore contract: ${name}`, () => {
    const open = tracked(make);
    const msg = (channel: string, seq: number, from: string, to = "*"): StoredMessage => ({
      id: objectId(),
      channel_id: channel,
      seq,
      from,
      to,
      type: "text",
      data: `m${seq}`,
      ts: new Date().toISOString(),
    });

    test("synced: answers after writes, for many callers at once", async () => {
      const s = await open();
      const ch = objectId();
      await s.applyBatch([{ seq: 1, entry: { kind: "message", ...msg(ch, 1, "a") } as StoreEntry }]);
      await Promise.all([s.synced(), s.synced(), s.synced()]);
      expect((await s.since(ch, undefined, 0, 10)).length).toBe(1);
    });

    test("insertMany is idempotent by id", async () => {
      const s = await open();
      const ch = objectId();
      const m = msg(ch, 1, "a");
      await s.insertMany([m]);
      await s.insertMany([m, msg(ch, 2, "a")]);
      await s.insertMany([m]);
      expect((await s.history(ch, "a", { limit: 10 })).map((x) => x.seq)).toEqual([2, 1]);
      expect((await s.history(ch, "a", { limit: 10 }))[1]).toEqual(m);
    });

    test("history: newest first, before-cursor, limit, and DMs only for their two users", async () => {
      const s = await open();
      const ch = objectId();
      await s.insertMany([msg(ch, 1, "a"), msg(ch, 2, "a", "b"), msg(ch, 3, "c", "a"), msg(ch, 4, "b", "c"), msg(ch, 5, "b"), msg(objectId(), 6, "a")]);
      const seqs = (xs: { seq: number }[]) => xs.map((x) => x.seq);
      expect(seqs(await s.history(ch, "a", { limit: 10 }))).toEqual([5, 3, 2, 1]);
      expect(seqs(await s.history(ch, "b", { limit: 10 }))).toEqual([5, 4, 2, 1]);
      expect(seqs(await s.history(ch, "z", { limit: 10 }))).toEqual([5, 1]);
      expect(seqs(await s.history(ch, "a", { limit: 2 }))).toEqual([5, 3]);
      expect(seqs(await s.history(ch, "a", { before: 3, limit: 10 }))).toEqual([2, 1]);
    });

    test("since: oldest first after a seq, per viewer or everything", async () => {
      const s = await open();
      const ch = objectId();
      await s.insertMany([msg(ch, 10, "a"), msg(ch, 11, "a", "b"), msg(ch, 12, "c", "d"), msg(ch, 13, "b")]);
      const seqs = (xs: { seq: number }[]) => xs.map((x) => x.seq);
      expect(seqs(await s.since(ch, "b", 10, 100))).toEqual([11, 13]);
      expect(seqs(await s.since(ch, undefined, 10, 100))).toEqual([11, 12, 13]);
      expect(seqs(await s.since(ch, undefined, 10, 2))).toEqual([11, 12]);
    });

    // ---- message lifecycle (PROTOCOL section 9) -------------------------------------------

    /** A channel whose log the test writes: each entry gets the next seq (with gaps, like Kafka offsets). */
    const channel = (s: MessageStore) => {
      const ch = objectId();
      let seq = 100;
      const log: { seq: number; entry: StoreEntry }[] = [];
      return {
        ch,
        log,
        /** Appends and applies one batch; returns the effective kinds (null: no effect). */
        async apply(...entries: StoreEntry[]) {
          const batch = entries.map((entry) => ({ seq: (seq += 3), entry }));
          log.push(...batch);
          const out = await s.applyBatch(batch);
          expect(out.length).toBe(batch.length);
          return { seqs: batch.map((b) => b.seq), effective: out.map((e) => (e ? e.kind : null)), out };
        },
        send(from: string, data: string, extra: Partial<StoredMessage> = {}): MsgEntry {
          return { kind: "message", id: objectId(), channel_id: ch, to: "*", from, type: "text", data, ts: new Date().toISOString(), ...extra };
        },
        edit(m: MsgEntry, data: string): LifecycleEntry {
          const t = m;
          return { kind: "message_edited", channel_id: ch, id: t.id, data, edited_at: new Date().toISOString(), by: t.from, to: t.to, author: t.from };
        },
        del(m: MsgEntry, by: string): LifecycleEntry {
          const t = m;
          return { kind: "message_deleted", channel_id: ch, id: t.id, by, to: t.to, author: t.from, ts: new Date().toISOString() };
        },
        react(m: MsgEntry, user: string, emoji: string, on = true): LifecycleEntry {
          const t = m;
          return { kind: "reaction", channel_id: ch, id: t.id, emoji, user, on, to: t.to, author: t.from, ts: new Date().toISOString() };
        },
        read(user: string, upTo: number): LifecycleEntry {
          return { kind: "read", channel_id: ch, user, seq: upTo, ts: new Date().toISOString() };
        },
      };
    };
    const byId = async (s: MessageStore, ch: string, viewer: string, id: string): Promise<MessageView | undefined> =>
      (await s.history(ch, viewer, { limit: 100 })).find((m) => m.id === id);
    const summary = (items: ReplayItem[]) =>
      items.map((i) => {
        if (i.message) return `${i.seq} message ${i.message.deleted ? "deleted" : i.message.data}`;
        const e = i.entry;
        switch (e.kind) {
          case "message_edited":
            return `${i.seq} edited ${e.data}`;
          case "message_deleted":
            return `${i.seq} deleted by ${e.by}`;
          case "reaction":
            return `${i.seq} ${e.on ? "+" : "-"}${e.emoji} ${e.user}`;
          case "read":
            return `${i.seq} read ${e.user} ${e.seq}`;
        }
      });

    test("applyBatch stores messages, edits them, and reports what took effect", async () => {
      const s = await open();
      const c = channel(s);
      const m = c.send("a", "v0");
      const [mseq] = (await c.apply(m)).seqs;
      const r = await c.apply(c.edit(m, "v1"), c.edit(m, "v2"));
      expect(r.effective).toEqual(["message_edited", "message_edited"]);
      const v = (await byId(s, c.ch, "b", m.id))!;
      expect(v).toMatchObject({ seq: mseq, data: "v2", from: "a" });
      expect(typeof v.edited_at).toBe("string");
      expect(v.deleted).toBeUndefined();
      expect(await s.getMessage(c.ch, m.id)).toEqual({ id: m.id, channel_id: c.ch, seq: mseq!, from: "a", to: "*", type: "text", deleted: false, emoji: [] });
      expect(await s.getMessage(objectId(), m.id)).toBeNull(); // not of that team
      expect(await s.getMessage(c.ch, objectId())).toBeNull();
    });

    test("a redelivered batch changes nothing twice and reports the same effects", async () => {
      const s = await open();
      const c = channel(s);
      const m = c.send("a", "v0");
      const batch = [
        { seq: 10, entry: m },
        { seq: 11, entry: c.react(m, "b", "👍") },
        { seq: 12, entry: c.react(m, "b", "👍") },
        { seq: 13, entry: c.react(m, "c", "👍") },
        { seq: 14, entry: c.edit(m, "v1") },
        { seq: 15, entry: c.read("b", 14) },
        { seq: 16, entry: c.send("b", "reply", { reply_to: m.id }) },
      ];
      const first = (await s.applyBatch(batch)).map((e) => e?.kind ?? null);
      const again = (await s.applyBatch(batch)).map((e) => e?.kind ?? null);
      expect(first).toEqual(["message", "reaction", null, "reaction", "message_edited", "read", "message"]);
      expect(again).toEqual(first);
      const v = (await byId(s, c.ch, "b", m.id))!;
      expect(v).toMatchObject({ data: "v1", reactions: [{ emoji: "👍", count: 2, me: true }], reply_count: 1, last_reply_seq: 16 });
      expect(await s.readMarkers(c.ch)).toEqual([{ user: "b", seq: 14 }]);
      expect((await s.history(c.ch, "b", { limit: 10 })).length).toBe(2);
    });

    test("client_msg_id: a resend (another id, same sender and channel) is neither stored nor reported, in later batches and within one", async () => {
      const s = await open();
      const c = channel(s);
      const first = c.send("a", "one", { client_msg_id: "k1" });
      const r1 = await c.apply(first);
      expect(r1.effective).toEqual(["message"]);
      const r2 = await c.apply(
        c.send("a", "one again", { client_msg_id: "k1" }), // a resend through another relay
        c.send("b", "same key, other sender", { client_msg_id: "k1" }),
        c.send("a", "two", { client_msg_id: "k2" }),
        c.send("a", "two again", { client_msg_id: "k2" }), // a resend in the same batch
        c.send("a", "no key"),
      );
      expect(r2.effective).toEqual([null, "message", "message", null, "message"]);
      expect((await s.history(c.ch, "a", { limit: 10 })).map((m) => m.data)).toEqual(["no key", "two", "same key, other sender", "one"]);
      expect(await s.lookupClientMessage(c.ch, "a", "k1")).toEqual({ id: first.id, seq: r1.seqs[0]!, ts: first.ts });
      expect(await s.lookupClientMessage(c.ch, "a", "k2")).toMatchObject({ seq: r2.seqs[2]! });
      expect(await s.lookupClientMessage(c.ch, "a", "nope")).toBeNull();
      expect(await s.lookupClientMessage(objectId(), "a", "k1")).toBeNull();
      // The original redelivered (a controller crashed before committing) still takes effect.
      expect((await s.applyBatch([{ seq: r1.seqs[0]!, entry: first }])).map((e) => e?.kind ?? null)).toEqual(["message"]);
    });

    test("client_msg_id claims are pruned by message time: past the window a key may be used again", async () => {
      const s = await open();
      const c = channel(s);
      const old = c.send("a", "old", { client_msg_id: "k", ts: new Date(Date.now() - 600_000).toISOString() });
      const recent = c.send("a", "recent", { client_msg_id: "r" });
      await c.apply(old, recent);
      expect(await s.pruneClientMessages(new Date(Date.now() - 300_000), new Date(Date.now() - 3_600_000))).toBe(1);
      expect(await s.lookupClientMessage(c.ch, "a", "k")).toBeNull();
      expect(await s.lookupClientMessage(c.ch, "a", "r")).toMatchObject({ id: recent.id });
      expect((await c.apply(c.send("a", "new", { client_msg_id: "k" }), c.send("a", "dup", { client_msg_id: "r" }))).effective).toEqual(["message", null]);
    });

    test("pruning takes every claim stamped between since and before, more than a page of them", async () => {
      const s = await open();
      const c = channel(s);
      const at = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000).toISOString();
      // 1,200 claims 20–40 minutes old (over a store's page), one 6 minutes old, one fresh
      const old = Array.from({ length: 1200 }, (_, i) => c.send("a", `m${i}`, { client_msg_id: `k${i}`, ts: at(1200 + i) }));
      await c.apply(...old, c.send("a", "six", { client_msg_id: "six", ts: at(360) }), c.send("a", "now", { client_msg_id: "now" }));
      expect(await s.pruneClientMessages(new Date(Date.now() - 300_000), new Date(Date.now() - 3_600_000))).toBe(1201);
      for (const k of ["k0", "k777", "k1199", "six"]) expect(await s.lookupClientMessage(c.ch, "a", k)).toBeNull();
      expect(await s.lookupClientMessage(c.ch, "a", "now")).not.toBeNull();
    });

    test("claimsSince lists the keys claimed at or after a time, bounded", async () => {
      const s = await open();
      const c = channel(s);
      await c.apply(
        c.send("a", "old", { client_msg_id: "k-old", ts: new Date(Date.now() - 600_000).toISOString() }),
        c.send("a", "x", { client_msg_id: "k1" }),
        c.send("b", "y", { client_msg_id: "k1" }),
        c.send("a", "no key"),
      );
      const since = new Date(Date.now() - 300_000);
      const keys = await s.claimsSince(since, 100);
      expect(keys.filter((k) => k.includes(c.ch)).sort()).toEqual([clientMsgKey(c.ch, "a", "k1"), clientMsgKey(c.ch, "b", "k1")].sort());
      expect((await s.claimsSince(since, 1)).length).toBe(1);
    });

    test("delete: content gone from history, resume and getMessage; nothing applies after it", async () => {
      const s = await open();
      const c = channel(s);
      const m = c.send("a", "secret words", { to: "b" });
      const id = m.id;
      const [mseq] = (await c.apply(m)).seqs;
      await c.apply(c.edit(m, "more secret"), c.react(m, "b", "🔥"));
      const d = await c.apply(c.del(m, "a"), c.edit(m, "after"), c.react(m, "b", "👍"), c.del(m, "a"));
      expect(d.effective).toEqual(["message_deleted", null, null, null]);
      const v = (await byId(s, c.ch, "b", id))!;
      expect(v).toEqual({ id, channel_id: c.ch, seq: mseq!, to: "b", from: "a", type: "text", ts: m.ts, deleted: true });
      expect((await s.getMessage(c.ch, id))!.deleted).toBe(true);
      const replay = JSON.stringify(await s.eventsSince(c.ch, undefined, 0, 100));
      expect(replay).not.toContain("secret");
      expect(summary(await s.eventsSince(c.ch, "b", mseq!, 100))).toEqual([`${d.seqs[0]} deleted by a`]);
    });

    test("reactions: counted once per (message, user, emoji), oldest emoji first, `me` per viewer, at most 20 distinct", async () => {
      const s = await open();
      const c = channel(s);
      const m = c.send("a", "react to me");
      const id = m.id;
      await c.apply(m);
      const r = await c.apply(c.react(m, "b", "👍"), c.react(m, "c", "🎉"), c.react(m, "c", "👍"), c.react(m, "b", "👍"), c.react(m, "a", "🎉", false));
      expect(r.effective).toEqual(["reaction", "reaction", "reaction", null, null]);
      expect((await byId(s, c.ch, "b", id))!.reactions).toEqual([
        { emoji: "👍", count: 2, me: true },
        { emoji: "🎉", count: 1, me: false },
      ]);
      expect((await s.getMessage(c.ch, id))!.emoji).toEqual(["👍", "🎉"]);
      expect((await c.apply(c.react(m, "b", "👍", false), c.react(m, "c", "🎉", false))).effective).toEqual(["reaction", "reaction"]);
      expect((await byId(s, c.ch, "c", id))!.reactions).toEqual([{ emoji: "👍", count: 1, me: true }]);
      const many = Array.from({ length: 21 }, (_, i) => c.react(m, "d", `e${i}`));
      const out = await c.apply(...many);
      expect(out.effective.filter(Boolean).length).toBe(19); // 👍 + 19 new = 20 distinct
      expect((await s.getMessage(c.ch, id))!.emoji.length).toBe(20);
    });

    test("replies: counted on the root, listed in history and by thread; DM threads stay between their users", async () => {
      const s = await open();
      const c = channel(s);
      const root = c.send("a", "root");
      const rootId = root.id;
      const dm = c.send("a", "dm root", { to: "b" });
      const dmId = dm.id;
      await c.apply(root, dm, c.send("x", "noise"));
      const r1 = c.send("b", "r1", { reply_to: rootId });
      const r2 = c.send("c", "r2", { reply_to: rootId });
      const d1 = c.send("b", "dm reply", { to: "a", reply_to: dmId });
      const { seqs } = await c.apply(r1, r2, d1);
      expect((await byId(s, c.ch, "c", rootId))!).toMatchObject({ reply_count: 2, last_reply_seq: seqs[1] });
      expect((await byId(s, c.ch, "a", dmId))!).toMatchObject({ reply_count: 1, last_reply_seq: seqs[2] });
      expect((await byId(s, c.ch, "c", r1.id))!.reply_to).toBe(rootId);
      const thread = (viewer: string, id: string) => s.history(c.ch, viewer, { limit: 10, thread: id }).then((xs) => xs.map((x) => x.data));
      expect(await thread("c", rootId)).toEqual(["r2", "r1", "root"]);
      expect(await thread("a", dmId)).toEqual(["dm reply", "dm root"]);
      expect(await thread("c", dmId)).toEqual([]);
      expect((await s.history(c.ch, "c", { limit: 10, thread: rootId, before: seqs[1] })).map((x) => x.data)).toEqual(["r1", "root"]);
      expect((await s.getMessage(c.ch, r1.id))!.reply_to).toBe(rootId);
      expect((await byId(s, c.ch, "c", r1.id))!.reply_count).toBeUndefined();
    });

    test("eventsSince: every change after a seq, at the seq of its entry, in current state, per viewer, paged", async () => {
      const s = await open();
      const c = channel(s);
      const m1 = c.send("a", "one");
      const m2 = c.send("a", "dm to b", { to: "b" });
      const m3 = c.send("a", "three");
      const base = await c.apply(m1, m2, m3);
      const S = base.seqs[2]!; // the viewer saw everything up to here
      const later = await c.apply(
        c.edit(m1, "one'"),
        c.react(m2, "b", "👍"),
        c.read("b", S),
        c.del(m3, "admin"),
        c.send("b", "four"),
        c.react(m1, "c", "🎉"),
        c.react(m1, "c", "🎉", false),
        c.edit(m2, "dm edited"),
        c.read("c", S),
      );
      const [e1, r2, rb, d3, m4, , rc2, e2, rdc] = later.seqs;
      expect(summary(await s.eventsSince(c.ch, "b", S, 100))).toEqual([
        `${e1} edited one'`,
        `${r2} +👍 b`,
        `${rb} read b ${S}`,
        `${d3} deleted by admin`,
        `${m4} message four`,
        `${rc2} -🎉 c`, // added then removed: collapsed to the final state, at the seq of the change that set it
        `${e2} edited dm edited`,
      ]);
      // c sees neither the a→b DM's changes nor b's marker
      expect(summary(await s.eventsSince(c.ch, "c", S, 100))).toEqual([`${e1} edited one'`, `${d3} deleted by admin`, `${m4} message four`, `${rc2} -🎉 c`, `${rdc} read c ${S}`]);
      const everything = summary(await s.eventsSince(c.ch, undefined, S, 100));
      expect(everything.length).toBe(8);
      // paged by seq, no gap and no repeat
      const paged: string[] = [];
      for (let after = S; ; ) {
        const page = await s.eventsSince(c.ch, undefined, after, 3);
        paged.push(...summary(page));
        if (page.length < 3) break;
        after = page[page.length - 1]!.seq;
      }
      expect(paged).toEqual(everything);
      // From the start: messages in current state (the deleted one without content), then later changes to older ones.
      const all = summary(await s.eventsSince(c.ch, "b", 0, 100));
      expect(all.slice(0, 3)).toEqual([`${base.seqs[0]} message one'`, `${base.seqs[1]} message dm edited`, `${base.seqs[2]} message deleted`]);
    });

    test("unread: after the marker, what the viewer may see and did not send, deleted excluded; last_seq", async () => {
      const s = await open();
      const c = channel(s);
      const other = channel(s);
      const a1 = c.send("a", "a1");
      const { seqs } = await c.apply(a1, c.send("b", "b1"), c.send("a", "dm a→b", { to: "b" }), c.send("a", "dm a→c", { to: "c" }), c.send("c", "reply", { reply_to: a1.id }));
      expect(await s.unread("b", [c.ch, other.ch])).toEqual([
        { channel_id: c.ch, last_seq: seqs[4]!, last_read_seq: 0, unread: 3 },
        { channel_id: other.ch, last_seq: 0, last_read_seq: 0, unread: 0 },
      ]);
      expect((await s.unread("c", [c.ch]))[0]).toMatchObject({ unread: 3, last_seq: seqs[4] });
      await c.apply(c.read("b", seqs[2]!));
      expect((await s.unread("b", [c.ch]))[0]).toMatchObject({ last_read_seq: seqs[2], unread: 1 });
      await c.apply(c.read("b", seqs[0]!)); // backwards: ignored
      expect((await s.unread("b", [c.ch]))[0]).toMatchObject({ last_read_seq: seqs[2], unread: 1 });
      await c.apply(c.del(c.log[4]!.entry as MsgEntry, "c"));
      expect((await s.unread("b", [c.ch]))[0]).toMatchObject({ unread: 0 });
      const r = await c.apply(c.read("b", 10 ** 12));
      expect((await s.readMarkers(c.ch))).toEqual([{ user: "b", seq: r.seqs[0]! }]); // clamped to the read's own seq
    });
  });
}
