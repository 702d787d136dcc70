import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { objectId } from "../ids";
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
