import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { objectId } from "../ids";
import { changeTeam, getTeam, memberPage, rolesOf } from "../membership";
import type { StoreEntry } from "../ports";
import { SqliteStore } from "./sqlite-store";

// A relay remembers at most DEDUPE_MAX_ENTRIES (200,000) keys; the store's claims are bounded by time only.
test("a resend is still recognised after more than 200,000 other messages with their own client_msg_ids", async () => {
  const s = new SqliteStore(mkdtempSync(join(tmpdir(), "chat-claims-")));
  const ch = objectId();
  const ts = new Date().toISOString();
  const send = (from: string, key: string): StoreEntry & { kind: "message" } => ({ kind: "message", id: objectId(), channel_id: ch, to: "*", from, type: "text", data: key, ts, client_msg_id: key });
  const first = send("a", "k-first");
  let seq = 1;
  expect(await s.applyBatch([{ seq, entry: first }])).toEqual([first]);
  const OTHERS = 210_000;
  for (let i = 0; i < OTHERS; i += 5000) {
    const batch = Array.from({ length: 5000 }, (_, j) => ({ seq: ++seq, entry: send(`u${(i + j) % 50}`, `k-${i + j}`) }));
    expect((await s.applyBatch(batch)).every((e) => e !== null)).toBe(true);
  }
  expect(await s.applyBatch([{ seq: ++seq, entry: send("a", "k-first") }])).toEqual([null]);
  expect(await s.lookupClientMessage(ch, "a", "k-first")).toEqual({ id: first.id, seq: 1, ts });
  expect((await s.since(ch, undefined, 0, 1_000_000)).length).toBe(OTHERS + 1);
  await s.close();
}, 60_000);

// Automatic checkpoints are off on the event loop's connection: the checkpoint thread moves the WAL into the database file.
test("the WAL is checkpointed into the database file by the checkpoint thread", async () => {
  const { statSync } = await import("node:fs");
  const { waitFor } = await import("../contracts/wait");
  const dir = mkdtempSync(join(tmpdir(), "chat-checkpoint-"));
  const s = new SqliteStore(dir);
  const size = () => statSync(join(dir, "chat.db")).size;
  const before = size();
  const ch = objectId();
  const ts = new Date().toISOString();
  const batch = Array.from({ length: 2000 }, (_, i) => ({ seq: i + 1, entry: { kind: "message" as const, id: objectId(), channel_id: ch, to: "*", from: "a", type: "text" as const, data: "x".repeat(200), ts } }));
  await s.applyBatch(batch);
  await waitFor(() => size() > before + 200_000, "the database file to take the checkpointed pages", 5_000);
  await s.close();
});

test("a data directory of the previous layout (members in the team document) opens, its members migrated to rows once", async () => {
  const dir = mkdtempSync(join(tmpdir(), "chat-old-layout-"));
  const id = objectId();
  const members = ["s@x.dev", "a@x.dev", ...Array.from({ length: 1500 }, (_, i) => `m${i}@x.dev`)];
  const doc = { id, name: "Old", active: true, meta_tags: ["x"], members, admins: ["s@x.dev", "a@x.dev"], super_admin: "s@x.dev", doc: new Date().toISOString(), version: 7 };
  // The previous layout, as its SqliteStore wrote it.
  const old = new Database(join(dir, "chat.db"), { create: true, strict: true });
  old.run("CREATE TABLE teams (id TEXT PRIMARY KEY, version INTEGER NOT NULL, active INTEGER NOT NULL, name_lower TEXT NOT NULL, doc TEXT NOT NULL)");
  old.run("CREATE TABLE team_members (user TEXT NOT NULL, team_id TEXT NOT NULL, PRIMARY KEY (user, team_id)) WITHOUT ROWID");
  old.run("CREATE TABLE team_tags (tag TEXT NOT NULL, team_id TEXT NOT NULL, PRIMARY KEY (tag, team_id)) WITHOUT ROWID");
  old.query("INSERT INTO teams VALUES (?, 7, 1, 'old', ?)").run(id, JSON.stringify(doc));
  for (const u of members) old.query("INSERT INTO team_members VALUES (?, ?)").run(u, id);
  old.query("INSERT INTO team_tags VALUES ('x', ?)").run(id);
  old.close();

  const s = new SqliteStore(dir);
  const team = (await getTeam(s, id))!;
  expect(team).toEqual({ id, name: "Old", active: true, meta_tags: ["x"], super_admin: "s@x.dev", doc: doc.doc, version: 7, member_count: 1502 });
  expect((await memberPage(s, team, undefined, 2)).rows).toEqual([
    { user_id: "a@x.dev", role: "admin" },
    { user_id: "m0@x.dev", role: "user" },
  ]);
  expect((await rolesOf(s, team, ["s@x.dev", "m7@x.dev", "z@x.dev"])).get("s@x.dev")).toBe("super_admin");
  expect(await s.channelsOf("m9@x.dev")).toEqual([id]);
  expect((await s.listForUser("m9@x.dev", { tag: "x", limit: 5 })).map((t) => t.id)).toEqual([id]);
  await changeTeam(s, id, "a@x.dev", { op: "remove_member", user: "m5@x.dev" });
  await s.close();
  // Opened again: nothing left to migrate, nothing changed.
  const again = new SqliteStore(dir);
  expect((await getTeam(again, id))!.member_count).toBe(1501);
  expect(again.db.query("SELECT name FROM sqlite_master WHERE name = 'team_members'").all()).toEqual([]);
  await again.close();
});

test("a data directory with the full edited/deleted indexes opens with partial ones instead (written only for edited or deleted messages)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "chat-old-indexes-"));
  await new SqliteStore(dir).close();
  const old = new Database(join(dir, "chat.db"));
  old.run("DROP INDEX messages_edited");
  old.run("DROP INDEX messages_deleted");
  old.run("CREATE INDEX messages_channel_edited ON messages (channel_id, edited_seq)");
  old.run("CREATE INDEX messages_channel_deleted ON messages (channel_id, deleted_seq)");
  old.close();
  const s = new SqliteStore(dir);
  const indexes = s.db.query<{ name: string; sql: string }, []>("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'messages_%' ORDER BY name").all();
  expect(indexes.map((i) => i.name)).not.toContain("messages_channel_edited");
  expect(indexes.map((i) => i.name)).not.toContain("messages_channel_deleted");
  expect(indexes.find((i) => i.name === "messages_edited")?.sql).toContain("WHERE edited_seq > 0");
  expect(indexes.find((i) => i.name === "messages_deleted")?.sql).toContain("WHERE deleted_seq > 0");
  const plan = s.db.query<{ detail: string }, []>("EXPLAIN QUERY PLAN SELECT * FROM messages WHERE channel_id = 'c' AND edited_seq > 0 AND edited_seq > 5 ORDER BY edited_seq").all();
  expect(plan.map((p) => p.detail).join()).toContain("USING INDEX messages_edited");
  await s.close();
});

// Commits are not fsync'd on the event loop (synchronous=NORMAL); synced() fsyncs the WAL on the checkpoint thread.
test("synced(): every caller is answered (one fsync covers those waiting together), and none after close", async () => {
  const dir = mkdtempSync(join(tmpdir(), "chat-synced-"));
  const s = new SqliteStore(dir);
  const ch = objectId();
  const ts = new Date().toISOString();
  await s.applyBatch([{ seq: 1, entry: { kind: "message", id: objectId(), channel_id: ch, to: "*", from: "a", type: "text", data: "x", ts } }]);
  await s.synced();
  await Promise.all(Array.from({ length: 500 }, () => s.synced()));
  await s.close();
  await expect(s.synced()).rejects.toThrow("store closed");
});

// A REST change is answered once changeTeam resolves: a power loss after the answer must not undo it.
test("createTeam and changeTeam resolve only after the store synced, asking for it at once ({ now: true })", async () => {
  const { createTeam } = await import("../membership");
  const { newTeam } = await import("../teams");
  const s = new SqliteStore(mkdtempSync(join(tmpdir(), "chat-team-sync-")));
  const asks: { opts: unknown; release: () => void }[] = [];
  let asked: () => void = () => {};
  const store = new Proxy(s, {
    get: (t, k) =>
      k === "synced"
        ? (o?: { now?: boolean }) =>
            new Promise<void>((resolve) => {
              asks.push({ opts: o, release: () => resolve(t.synced(o)) });
              asked();
            })
        : (Reflect.get(t, k) as unknown),
  });
  const nextAsk = () => new Promise<void>((r) => (asked = r));

  let done = false;
  let ask = nextAsk();
  const created = createTeam(store, newTeam(objectId(), "a@x.dev", { name: "Durable" })).then((t) => ((done = true), t));
  await ask;
  expect(done).toBe(false);
  asks[0]!.release();
  const team = await created;

  done = false;
  ask = nextAsk();
  const changed = changeTeam(store, team.id, "a@x.dev", { op: "add_member", user: "b@x.dev" }).then(() => (done = true));
  await ask;
  expect(done).toBe(false);
  asks[1]!.release();
  await changed;
  expect(asks.map((a) => a.opts)).toEqual([{ now: true }, { now: true }]);
  await s.close();
});

test("a sync thread that cannot open the store answers every sync with that error, for good", async () => {
  const { startCheckpointer } = await import("./sqlite-checkpointer");
  const c = startCheckpointer(join(mkdtempSync(join(tmpdir(), "chat-broken-")), "missing", "chat.db"));
  await expect(c.sync(true)).rejects.toThrow("WAL sync failed: open");
  await expect(c.sync(false)).rejects.toThrow("WAL sync failed: open");
  expect(c.failure).toContain("open"); // what the store's ping (readiness) reports
  await c.close();
  await expect(c.sync(true)).rejects.toThrow("store closed");
});
