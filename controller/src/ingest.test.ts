import { afterEach, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbeddedLog } from "@chat/common/adapters/embedded-log";
import { SqliteStore } from "@chat/common/adapters/sqlite-store";
import { waitFor } from "@chat/common/contracts/wait";
import { objectId } from "@chat/common/ids";
import type { Logger } from "@chat/common/log";
import type { LogEntry } from "@chat/common/message";
import { createMetrics } from "@chat/common/metrics";
import type { MessageStore } from "@chat/common/ports";
import { Hub } from "./hub";
import { Ingest } from "./ingest";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

// A position committed before the store could lose its batch (power loss) would skip that batch for good.
test("a batch settles, so its log position may be committed, only once the store has synced it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "chat-ingest-"));
  const store = new SqliteStore(dir);
  const log = new EmbeddedLog(join(dir, "log"));
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let syncs = 0;
  const messages = new Proxy(store, {
    get: (t, k) => (k === "synced" ? () => (syncs++, gate.then(() => t.synced())) : (Reflect.get(t, k) as unknown)),
  }) as MessageStore;
  stops.push(async () => {
    open();
    await log.close();
    await store.close();
  });
  const ch = objectId();
  const hub = new Hub();
  const stream = hub.open("relay", [ch]);
  const ing = new Ingest({ log, messages, hub, logger: quiet, metrics: createMetrics(), group: "g", dedupeWindowMs: 300_000, maxUnstored: 10_000 });
  const entry: LogEntry = { kind: "message", id: objectId(), channel_id: ch, to: "*", from: "a@x.dev", type: "text", data: "hi", ts: new Date().toISOString() };
  const { settled } = await ing.accept([{ channelId: ch, seq: 1, value: JSON.stringify(entry) }], { partition: "0", lag: 0, assignment: 0 }, new AbortController().signal);
  let done = false;
  void settled.then(() => (done = true));

  expect((await stream.next(AbortSignal.timeout(1000))).map((e) => e.seq)).toEqual([1n]); // published at once
  await waitFor(async () => (await store.since(ch, undefined, 0, 10)).length === 1, "the batch to be stored");
  await waitFor(async () => syncs > 0, "the store to be asked to sync");
  expect(done).toBe(false);
  open();
  await settled;
});
