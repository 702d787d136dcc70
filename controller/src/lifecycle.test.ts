import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { EmbeddedLog } from "@chat/common/adapters/embedded-log";
import { SqliteStore } from "@chat/common/adapters/sqlite-store";
import { loadConfig } from "@chat/common/config";
import { waitFor } from "@chat/common/contracts/wait";
import { objectId } from "@chat/common/ids";
import type { Logger } from "@chat/common/log";
import type { LogEntry } from "@chat/common/message";
import { createMetrics } from "@chat/common/metrics";
import type { ConsumedRecord } from "@chat/common/ports";
import { ControllerService, EventKind, type Event } from "@chat/proto/chat/v1/controller_pb";
import { Hub } from "./hub";
import { Ingest } from "./ingest";
import { createController } from "./service";

// Lifecycle entries through the controller: applied to the store, published only where they took
// effect (in log order, with DM routing), replayed by FetchSince, and idempotent on redelivery.
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

const CH = objectId();
const now = () => new Date().toISOString();
const msg = (id: string, from: string, to = "*", data = "hello"): LogEntry => ({ kind: "message", id, channel_id: CH, to, from, type: "text", data, ts: now() });

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "chat-lifecycle-"));
  const store = new SqliteStore(dir);
  const hub = new Hub();
  const stream = hub.open("relay", [CH]);
  const published: Event[] = [];
  let seq = 0;
  const log = new EmbeddedLog(dir);
  const ing = new Ingest({ log, messages: store, hub, logger: quiet, metrics: createMetrics(), group: "g", dedupeWindowMs: 300_000, maxUnstored: 10_000 });
  const ingest = async (entries: LogEntry[], at?: number[]) => {
    const batch: ConsumedRecord[] = entries.map((e, i) => ({ channelId: e.channel_id, seq: at?.[i] ?? (seq += 2), value: JSON.stringify(e) }));
    await (await ing.accept(batch, { partition: "0", lag: 0, assignment: 0 }, new AbortController().signal)).settled;
    const got = await stream.next(AbortSignal.timeout(1000));
    published.push(...got);
    return { batch, got };
  };
  stops.push(async () => {
    await log.close();
    await store.close();
  });
  return { store, ingest, published };
}
const frames = (events: Event[]) => events.map((e) => JSON.parse(e.frame));

describe("ingest of lifecycle entries", () => {
  test("published only where they took effect, each routed like its message", async () => {
    const h = setup();
    const m = objectId();
    const dm = objectId();
    await h.ingest([msg(m, "a"), msg(dm, "a", "b", "psst")]);
    const { got } = await h.ingest([
      { kind: "reaction", channel_id: CH, id: m, emoji: "👍", user: "b", on: true, to: "*", author: "a", ts: now() },
      { kind: "reaction", channel_id: CH, id: m, emoji: "👍", user: "b", on: true, to: "*", author: "a", ts: now() }, // twice: nothing
      { kind: "message_edited", channel_id: CH, id: dm, data: "psst!", edited_at: now(), by: "a", to: "b", author: "a" },
      { kind: "message_deleted", channel_id: CH, id: dm, by: "a", to: "b", author: "a", ts: now() },
      { kind: "message_edited", channel_id: CH, id: dm, data: "too late", edited_at: now(), by: "a", to: "b", author: "a" }, // after the delete: nothing
      { kind: "read", channel_id: CH, user: "b", seq: 3, ts: now() },
      { kind: "read", channel_id: CH, user: "b", seq: 1, ts: now() }, // backwards: nothing
    ]);
    expect(frames(got).map((f) => f.event)).toEqual(["reaction_added", "message_edited", "message_deleted", "read"]);
    expect(got.map((e) => [EventKind[e.kind], e.to, e.from])).toEqual([
      ["REACTION_ADDED", "*", "a"],
      ["MESSAGE_EDITED", "b", "a"],
      ["MESSAGE_DELETED", "b", "a"],
      ["READ", "b", "b"],
    ]);
    expect(JSON.stringify(frames(got).slice(2))).not.toContain("psst");
  });

  test("a redelivered batch changes nothing twice; its effective events go out again (relays drop them by seq)", async () => {
    const h = setup();
    const m = objectId();
    const entries: LogEntry[] = [
      msg(m, "a"),
      { kind: "reaction", channel_id: CH, id: m, emoji: "🎉", user: "b", on: true, to: "*", author: "a", ts: now() },
      { kind: "reaction", channel_id: CH, id: m, emoji: "🎉", user: "c", on: true, to: "*", author: "a", ts: now() },
      { kind: "message_edited", channel_id: CH, id: m, data: "v2", edited_at: now(), by: "a", to: "*", author: "a" },
      { kind: "message", id: objectId(), channel_id: CH, to: "*", from: "b", type: "text", data: "re", ts: now(), reply_to: m },
    ];
    const first = await h.ingest(entries);
    const again = await h.ingest(entries, first.batch.map((r) => r.seq));
    expect(again.got.map((e) => e.seq)).toEqual(first.got.map((e) => e.seq));
    const [view] = (await h.store.history(CH, "b", { limit: 10 })).filter((x) => x.id === m);
    expect(view).toMatchObject({ data: "v2", reactions: [{ emoji: "🎉", count: 2, me: true }], reply_count: 1 });
  });
});

describe("RPCs", () => {
  function controller() {
    const dir = mkdtempSync(join(tmpdir(), "chat-lifecycle-rpc-"));
    const log = new EmbeddedLog(join(dir, "log"));
    const store = new SqliteStore(dir);
    const c = createController(loadConfig({}), { log, teams: store, messages: store }, { logger: quiet, onFatal: (err) => { throw err; } });
    c.start();
    stops.push(async () => {
      await c.stop();
      await log.close();
      await store.close();
    });
    const client = createClient(ControllerService, createRouterTransport(c.routes, { router: { interceptors: c.interceptors } }));
    const append = (...entries: LogEntry[]) => log.append(entries.map((e) => ({ channelId: e.channel_id, value: JSON.stringify(e) })));
    return { client, append, store };
  }

  test("GetMessage waits briefly for a message appended but not yet stored", async () => {
    const h = controller();
    const id = objectId();
    const asked = h.client.getMessage({ channelId: CH, id });
    await Bun.sleep(30); // the lookup is in its retry loop by now
    await h.append(msg(id, "a", "b"));
    expect(await asked).toMatchObject({ found: true, id, from: "a", to: "b", type: "text", deleted: false, replyTo: "", emoji: [] });
  });

  test("GetMessage: an old unknown id, or one of another team, is not found at once", async () => {
    const h = controller();
    const t0 = performance.now();
    expect(await h.client.getMessage({ channelId: CH, id: objectId(Date.now() - 60_000) })).toMatchObject({ found: false });
    expect(performance.now() - t0).toBeLessThan(500);
    const id = objectId(Date.now() - 60_000);
    await h.append(msg(id, "a"));
    await waitFor(async () => (await h.store.getMessage(CH, id)) !== null, "the message stored");
    expect(await h.client.getMessage({ channelId: objectId(), id })).toMatchObject({ found: false });
    await expect(h.client.getMessage({ channelId: CH, id: "nope" })).rejects.toThrow();
  });

  test("FetchSince replays lifecycle events at their own seq, DM ones only to their users", async () => {
    const h = controller();
    const m = objectId();
    const dm = objectId();
    const [s1] = await h.append(msg(m, "a"), msg(dm, "a", "b", "secret"));
    const [, e2] = await h.append(
      { kind: "reaction", channel_id: CH, id: m, emoji: "👍", user: "c", on: true, to: "*", author: "a", ts: now() },
      { kind: "message_deleted", channel_id: CH, id: dm, by: "a", to: "b", author: "a", ts: now() },
    );
    await waitFor(async () => (await h.store.getMessage(CH, dm))?.deleted === true, "the delete applied");
    const kinds = async (viewer: string, after: number) =>
      (await h.client.fetchSince({ channelId: CH, viewer, afterSeq: BigInt(after) })).events.map((e) => `${EventKind[e.kind]}@${e.seq}`);
    expect(await kinds("c", s1! + 1)).toEqual([`REACTION_ADDED@${e2! - 1}`]);
    expect(await kinds("b", s1! + 1)).toEqual([`REACTION_ADDED@${e2! - 1}`, `MESSAGE_DELETED@${e2}`]);
    const fromStart = await h.client.fetchSince({ channelId: CH, viewer: "b", afterSeq: 0n });
    expect(fromStart.events.map((e) => e.frame).join()).not.toContain("secret");
  });
});
