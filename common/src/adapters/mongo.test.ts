import { describe, expect, test } from "bun:test";
import { MongoClient, ObjectId } from "mongodb";
import { messageStoreContract } from "../contracts/message-store.contract";
import { teamStoreContract } from "../contracts/team-store.contract";
import { AppError } from "../errors";
import { objectId } from "../ids";
import type { Logger } from "../log";
import type { StoredMessage } from "../message";
import { changeTeam, createTeam, getTeam, memberPage } from "../membership";
import { newTeam } from "../teams";
import { escapeRegex } from "./mongo-docs";
import { MongoStore } from "./mongo-store";

const url = process.env.MONGODB_URL;
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

/** A fresh database per store, dropped when the store is closed. */
async function freshStore(): Promise<MongoStore> {
  const store = await MongoStore.connect({ url: url!, db: `chat_test_${objectId()}` }, quiet);
  const close = store.close.bind(store);
  store.close = async () => {
    await store.db.dropDatabase().catch(() => undefined);
    await close();
  };
  return store;
}

const message = (channel: string, seq: number, extra: Partial<StoredMessage> = {}): StoredMessage => ({
  id: objectId(),
  channel_id: channel,
  seq,
  from: "a@x.dev",
  to: "*",
  type: "text",
  data: `m${seq}`,
  ts: new Date().toISOString(),
  ...extra,
});

/**
 * Each call hands an operator object where a primitive belongs; every one must be refused
 * with `validation` before any query runs (without a server, a query would fail `unavailable`).
 */
function injectionCases(open: () => Promise<MongoStore>) {
  const op = { $ne: 1 } as unknown as string;
  const opNum = { $gt: 0 } as unknown as number;
  const team = newTeam(objectId(), "a@x.dev", { name: "T" });
  const ch = objectId();
  const cases: [string, (s: MongoStore) => Promise<unknown>][] = [
    ["get(id)", (s) => s.get(op)],
    ["listForUser(user)", (s) => s.listForUser(op, { limit: 10 })],
    ["listForUser(tag)", (s) => s.listForUser("a@x.dev", { tag: op, limit: 10 })],
    ["listForUser(q)", (s) => s.listForUser("a@x.dev", { q: op, limit: 10 })],
    ["listForUser(after)", (s) => s.listForUser("a@x.dev", { after: op, limit: 10 })],
    ["listForUser(limit)", (s) => s.listForUser("a@x.dev", { limit: opNum })],
    ["channelsOf(user)", (s) => s.channelsOf(op)],
    ["commit(team.id)", (s) => s.commit({ ...team, id: op }, 1)],
    ["commit(expectedVersion)", (s) => s.commit(team, opNum)],
    ["commit(pending user)", (s) => s.commit({ ...team, pending: [{ user: op, role: "user" }] }, 1)],
    ["commit(pending role)", (s) => s.commit({ ...team, pending: [{ user: "b@x.dev", role: op as "user" }] }, 1)],
    ["create(member_count)", (s) => s.create({ ...team, id: objectId(), member_count: opNum })],
    ["clearPending(id)", (s) => s.clearPending(op, 1)],
    ["clearPending(version)", (s) => s.clearPending(team.id, opNum)],
    ["writeRows(team)", (s) => s.writeRows(op, 1, [{ user: "b@x.dev", role: "user" }])],
    ["writeRows(stamp)", (s) => s.writeRows(team.id, opNum, [{ user: "b@x.dev", role: "user" }])],
    ["writeRows(user)", (s) => s.writeRows(team.id, 1, [{ user: op, role: "user" }])],
    ["writeRows(role)", (s) => s.writeRows(team.id, 1, [{ user: "b@x.dev", role: op as "user" }])],
    ["rowsOf(team)", (s) => s.rowsOf(op, ["a@x.dev"])],
    ["rowsOf(user)", (s) => s.rowsOf(team.id, [op])],
    ["memberRows(team)", (s) => s.memberRows(op, undefined, 10)],
    ["memberRows(after)", (s) => s.memberRows(team.id, op, 10)],
    ["memberRows(limit)", (s) => s.memberRows(team.id, undefined, opNum)],
    ["history(channel)", (s) => s.history(op, "a@x.dev", { limit: 10 })],
    ["history(viewer)", (s) => s.history(ch, op, { limit: 10 })],
    ["history(before)", (s) => s.history(ch, "a@x.dev", { before: opNum, limit: 10 })],
    ["since(channel)", (s) => s.since(op, undefined, 0, 10)],
    ["since(viewer)", (s) => s.since(ch, op, 0, 10)],
    ["since(after)", (s) => s.since(ch, "a@x.dev", opNum, 10)],
    ["insertMany(id)", (s) => s.insertMany([message(ch, 1, { id: op })])],
    ["insertMany(channel_id)", (s) => s.insertMany([message(op, 1)])],
    ["insertMany(reply_to)", (s) => s.insertMany([message(ch, 1, { reply_to: op })])],
    ["getMessage(channel)", (s) => s.getMessage(op, objectId())],
    ["getMessage(id)", (s) => s.getMessage(ch, op)],
    ["history(thread)", (s) => s.history(ch, "a@x.dev", { limit: 10, thread: op })],
    ["eventsSince(channel)", (s) => s.eventsSince(op, undefined, 0, 10)],
    ["eventsSince(viewer)", (s) => s.eventsSince(ch, op, 0, 10)],
    ["eventsSince(after)", (s) => s.eventsSince(ch, "a@x.dev", opNum, 10)],
    ["unread(viewer)", (s) => s.unread(op, [ch])],
    ["unread(channel)", (s) => s.unread("a@x.dev", [op])],
    ["readMarkers(channel)", (s) => s.readMarkers(op)],
    ["applyBatch(seq)", (s) => s.applyBatch([{ seq: opNum, entry: { kind: "read", channel_id: ch, user: "a@x.dev", seq: 1, ts: "t" } }])],
    ["applyBatch(read.user)", (s) => s.applyBatch([{ seq: 5, entry: { kind: "read", channel_id: ch, user: op, seq: 1, ts: "t" } }])],
    ["applyBatch(read.seq)", (s) => s.applyBatch([{ seq: 5, entry: { kind: "read", channel_id: ch, user: "a@x.dev", seq: opNum, ts: "t" } }])],
    ["applyBatch(edit.id)", (s) => s.applyBatch([{ seq: 5, entry: { kind: "message_edited", channel_id: ch, id: op, data: "x", edited_at: new Date().toISOString(), by: "a", to: "*", author: "a" } }])],
    ["applyBatch(reaction.emoji)", (s) => s.applyBatch([{ seq: 5, entry: { kind: "reaction", channel_id: ch, id: objectId(), emoji: op, user: "a", on: true, to: "*", author: "a", ts: "t" } }])],
    ["applyBatch(reaction.user)", (s) => s.applyBatch([{ seq: 5, entry: { kind: "reaction", channel_id: ch, id: objectId(), emoji: "x", user: op, on: true, to: "*", author: "a", ts: "t" } }])],
  ];
  for (const [name, call] of cases) {
    test(`{ $ne/$gt } as ${name} is refused before reaching a filter`, async () => {
      const s = await open();
      try {
        const err = await call(s).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(AppError);
        expect((err as AppError).code).toBe("validation");
      } finally {
        await s.close();
      }
    });
  }
}

describe("MongoStore without a server", () => {
  injectionCases(async () => new MongoStore(new MongoClient("mongodb://127.0.0.1:9/", { serverSelectionTimeoutMS: 300 }), "none", quiet));

  test("an unreachable server is `unavailable`, not a driver error", async () => {
    const s = new MongoStore(new MongoClient("mongodb://127.0.0.1:9/", { serverSelectionTimeoutMS: 300 }), "none", quiet);
    try {
      await expect(s.get(objectId())).rejects.toMatchObject({ code: "unavailable" });
    } finally {
      await s.close();
    }
  });

  test("escapeRegex makes every metacharacter literal", () => {
    const q = String.raw`a.b*c+d?e^f$g{h}i(j)k|l[m]n\o`;
    expect(new RegExp(escapeRegex(q)).test(q)).toBe(true);
    expect(new RegExp(`^${escapeRegex(".*")}$`).test("abc")).toBe(false);
  });
});

if (!url) {
  test.skip("MongoStore contracts and adapter tests (set MONGODB_URL to run)", () => {});
} else {
  teamStoreContract("mongodb", freshStore);
  messageStoreContract("mongodb", freshStore);

  describe("MongoStore against a server", () => {
    injectionCases(async () => {
      // A stored team a `{ $ne: ... }` filter would match, so a leak could not go unnoticed.
      const s = await freshStore();
      await createTeam(s, newTeam(objectId(), "a@x.dev", { name: "T", meta_tags: ["x"] }));
      return s;
    });

    test("indexes exist after connect", async () => {
      const s = await freshStore();
      try {
        const keys = async (c: string) => (await s.db.collection(c).listIndexes().toArray()).map((i) => JSON.stringify(i.key));
        const messages = await keys("messages");
        for (const k of [{ channel_id: 1, seq: 1 }, { channel_id: 1, edited_seq: 1 }, { channel_id: 1, deleted_seq: 1 }, { reply_to: 1, seq: 1 }])
          expect(messages).toContain(JSON.stringify(k));
        expect(await keys("reactions")).toEqual(expect.arrayContaining([JSON.stringify({ channel_id: 1, seq: 1 }), JSON.stringify({ message_id: 1, user: 1 })]));
        expect(await keys("reads")).toEqual(expect.arrayContaining([JSON.stringify({ channel_id: 1, user: 1 }), JSON.stringify({ channel_id: 1, event_seq: 1 })]));
        expect(await keys("teams")).toContain(JSON.stringify({ meta_tags: 1 }));
        const memberships = await s.db.collection("memberships").listIndexes().toArray();
        expect(memberships.find((i) => JSON.stringify(i.key) === JSON.stringify({ team_id: 1, user: 1 }))?.unique).toBe(true);
        expect(memberships.map((i) => JSON.stringify(i.key))).toContain(JSON.stringify({ user: 1, team_id: 1 }));
      } finally {
        await s.close();
      }
    });

    test("documents: ObjectId _id, Date doc/ts; optional fields absent when unset", async () => {
      const s = await freshStore();
      try {
        const t = newTeam(objectId(), "a@x.dev", { name: "No icon" });
        await s.create(t);
        const got = (await s.get(t.id))!;
        expect(got).toEqual(t);
        expect("icon" in got).toBe(false);
        const raw = (await s.db.collection("teams").findOne({}))!;
        expect(raw._id.constructor.name).toBe("ObjectId");
        expect(raw.doc).toBeInstanceOf(Date);

        const ch = objectId();
        const plain = message(ch, 1);
        const keyed = message(ch, 2, { client_msg_id: "c-1", to: "b@x.dev" });
        await s.insertMany([plain, keyed]);
        const [one, two] = await s.since(ch, undefined, 0, 10);
        expect(one).toEqual(plain);
        expect("client_msg_id" in one!).toBe(false);
        expect(two).toEqual(keyed);
        const rawMsg = (await s.db.collection("messages").findOne({ seq: 1 }))!;
        expect(rawMsg._id.toHexString()).toBe(plain.id);
      } finally {
        await s.close();
      }
    });

    test("insertMany stores the new messages of a batch that partly exists", async () => {
      const s = await freshStore();
      try {
        const ch = objectId();
        const old = [message(ch, 1), message(ch, 2)];
        await s.insertMany(old);
        await s.insertMany([old[0]!, message(ch, 3), old[1]!, message(ch, 4)]);
        expect((await s.since(ch, undefined, 0, 10)).map((m) => m.seq)).toEqual([1, 2, 3, 4]);
      } finally {
        await s.close();
      }
    });

    test("a deleted message's content leaves the document; reply_to is an ObjectId", async () => {
      const s = await freshStore();
      try {
        const ch = objectId();
        const m = message(ch, 1, { data: "top secret", to: "b@x.dev" });
        const reply = message(ch, 2, { reply_to: m.id, to: "a@x.dev", from: "b@x.dev" });
        await s.applyBatch([
          { seq: 1, entry: { kind: "message", ...m } },
          { seq: 2, entry: { kind: "message", ...reply } },
          { seq: 3, entry: { kind: "message_edited", channel_id: ch, id: m.id, data: "still secret", edited_at: new Date().toISOString(), by: m.from, to: m.to, author: m.from } },
          { seq: 4, entry: { kind: "reaction", channel_id: ch, id: m.id, emoji: "👍", user: "b@x.dev", on: true, to: m.to, author: m.from, ts: "t" } },
          { seq: 5, entry: { kind: "message_deleted", channel_id: ch, id: m.id, by: m.from, to: m.to, author: m.from, ts: "t" } },
        ]);
        const raw = (await s.db.collection("messages").findOne({ seq: 1 }))!;
        expect(JSON.stringify(raw)).not.toContain("secret");
        expect(raw).toMatchObject({ deleted: true, deleted_seq: 5, reply_count: 1, last_reply_seq: 2 });
        expect("data" in raw).toBe(false);
        const rawReply = (await s.db.collection("messages").findOne({ seq: 2 }))!;
        expect(rawReply.reply_to.constructor.name).toBe("ObjectId");
      } finally {
        await s.close();
      }
    });

    test("a database of the previous layout (members in the team document) is migrated at connect, once", async () => {
      const s = await freshStore();
      try {
        const id = objectId();
        const members = ["s@x.dev", "a@x.dev", ...Array.from({ length: 1500 }, (_, i) => `m${i}@x.dev`)];
        await s.db.collection("teams").insertOne({
          _id: ObjectId.createFromHexString(id),
          name: "Old",
          active: true,
          meta_tags: [],
          members,
          admins: ["s@x.dev", "a@x.dev"],
          super_admin: "s@x.dev",
          doc: new Date(),
          version: 7,
        });
        const again = await MongoStore.connect({ url: url!, db: s.db.databaseName }, quiet);
        try {
          const team = (await getTeam(again, id))!;
          expect(team).toMatchObject({ member_count: 1502, version: 7, super_admin: "s@x.dev" });
          const raw = (await s.db.collection("teams").findOne({ _id: ObjectId.createFromHexString(id) }))!;
          expect(["members" in raw, "admins" in raw]).toEqual([false, false]);
          expect((await memberPage(again, team, undefined, 3)).rows).toEqual([
            { user_id: "a@x.dev", role: "admin" },
            { user_id: "m0@x.dev", role: "user" },
            { user_id: "m1000@x.dev", role: "user" },
          ]);
          await changeTeam(again, id, "s@x.dev", { op: "remove_member", user: "m5@x.dev" });
          expect((await getTeam(again, id))!.member_count).toBe(1501);
          expect(await again.channelsOf("m9@x.dev")).toEqual([id]);
        } finally {
          await again.close();
        }
      } finally {
        await s.close();
      }
    }, 60_000);

    test("a malformed team id is absent, a malformed cursor is a validation error", async () => {
      const s = await freshStore();
      try {
        expect(await s.get("not-an-id")).toBeNull();
        await expect(s.listForUser("a@x.dev", { after: "nope", limit: 5 })).rejects.toMatchObject({ code: "validation" });
      } finally {
        await s.close();
      }
    });
  });
}
