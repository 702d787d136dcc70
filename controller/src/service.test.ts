import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { EmbeddedLog } from "@chat/common/adapters/embedded-log";
import { loadConfig } from "@chat/common/config";
import { AppError } from "@chat/common/errors";
import { SqliteStore } from "@chat/common/adapters/sqlite-store";
import { waitFor } from "@chat/common/contracts/wait";
import { objectId } from "@chat/common/ids";
import type { Logger } from "@chat/common/log";
import type { LogEntry, StoredMessage } from "@chat/common/message";
import { createMetrics } from "@chat/common/metrics";
import type { MessageStore, TeamStore } from "@chat/common/ports";
import { ControllerService, EventKind, type Event } from "@chat/proto/chat/v1/controller_pb";
import { Ephemeral } from "./ephemeral";
import { Unstored } from "./unstored";
import { Hub, newEvent } from "./hub";
import { controllerRoutes, errorInterceptor } from "./routes";
import { createController } from "./service";

// The controller over the embedded log and store, called through Connect's in-memory transport
// exactly as standalone wires it. Waits are for events (a barrier event, the stream's end) or for
// a condition with a deadline, never for time.
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
type ControllerClient = Client<typeof ControllerService>;

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
}
function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop();
});

/** A started controller on fresh embedded adapters; `overrides` swap in ports a test must control. */
function startController(overrides: { messages?: (store: SqliteStore) => MessageStore; teams?: TeamStore; token?: string; logger?: Logger; env?: Record<string, string> } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "chat-controller-"));
  const log = new EmbeddedLog(join(dir, "log"));
  const store = new SqliteStore(dir);
  const fatal: unknown[] = [];
  const config = loadConfig({ ...overrides.env, ...(overrides.token ? { CONTROLLER_TOKEN: overrides.token } : {}) });
  const controller = createController(
    config,
    { log, teams: overrides.teams ?? store, messages: overrides.messages?.(store) ?? store },
    { logger: overrides.logger ?? quiet, onFatal: (err) => fatal.push(err) },
  );
  controller.start();
  const transport = createRouterTransport(controller.routes, { router: { interceptors: controller.interceptors } });
  const h = {
    log,
    store,
    controller,
    client: createClient(ControllerService, transport),
    async append(...entries: LogEntry[]) {
      await log.append(entries.map((e) => ({ channelId: e.channel_id, value: JSON.stringify(e) })));
    },
    async stop() {
      await controller.stop();
      await log.close();
      await store.close();
      expect(fatal).toEqual([]);
    },
  };
  running.push(h);
  return h;
}

/**
 * Opens a relay's Subscribe stream and reads it in the background. Resolves once the controller
 * confirmed the subscription (its first, empty response), so the hub holds the stream.
 */
async function subscribe(client: ControllerClient, relayId: string, channelIds: string[]) {
  const ac = new AbortController();
  const it = client.subscribe({ relayId, channelIds }, { signal: ac.signal })[Symbol.asyncIterator]();
  const first = await it.next();
  expect(first.done).toBe(false);
  expect(first.value.events).toEqual([]);
  const s = { events: [] as Event[], done: false, error: undefined as unknown, abort: () => ac.abort() };
  const ended = (async () => {
    try {
      for (let r = await it.next(); !r.done; r = await it.next()) s.events.push(...r.value.events);
    } catch (err) {
      s.error = err;
    } finally {
      s.done = true;
    }
  })();
  return Object.assign(s, {
    ended,
    /** Resolves once an event matching `match` has arrived. */
    received: (match: (e: Event) => boolean, what: string) => waitFor(() => s.events.some(match), `${relayId} to receive ${what}`),
  });
}

function message(channel: string, data: string): LogEntry {
  return { kind: "message", id: objectId(), channel_id: channel, to: "*", from: "a@x.dev", type: "text", data, ts: new Date().toISOString() };
}
function joined(channel: string, user: string): LogEntry {
  return { kind: "member_joined", channel_id: channel, user, by: "a@x.dev", ts: new Date().toISOString() };
}
const isJoinOf = (user: string) => (e: Event) => e.kind === EventKind.MEMBER_JOINED && e.to === user;
const isMessage = (data: string) => (e: Event) => e.kind === EventKind.MESSAGE && JSON.parse(e.frame).data === data;

/** Events as "message <channel label> <data>" or "<KIND> <channel label> <user>", for comparing whole sequences. */
function summary(events: Event[], labels: Record<string, string>): string[] {
  return events.map((e) => {
    const ch = labels[e.channelId] ?? e.channelId;
    return e.kind === EventKind.MESSAGE ? `message ${ch} ${JSON.parse(e.frame).data}` : `${EventKind[e.kind]} ${ch} ${e.to}`;
  });
}

/** The store with `applyBatch` replaced (every other method is the store's own). */
function withApplyBatch(store: SqliteStore, applyBatch: MessageStore["applyBatch"]): MessageStore {
  return new Proxy(store, { get: (t, k) => (k === "applyBatch" ? applyBatch : (Reflect.get(t, k) as unknown)) }) as MessageStore;
}

describe("ingest", () => {
  test("messages are published before their batch is stored; what only the store decides waits for it, in channel order", async () => {
    const entered = deferred<StoredMessage[]>();
    const release = deferred();
    let calls = 0;
    const h = startController({
      messages: (store) =>
        withApplyBatch(store, async (batch) => {
          if (calls++ === 0) {
            entered.resolve(batch.flatMap(({ seq, entry }) => (entry.kind === "message" ? [{ ...entry, seq }] : [])));
            await release.promise; // the database is slow (or down) for the first batch
          }
          return store.applyBatch(batch);
        }),
    });
    running.push({ stop: async () => release.resolve() }); // a failing test must not leave stop() waiting on it
    const [A, B] = [objectId(), objectId()];
    const relay = await subscribe(h.client, "relay-1", [A, B]);
    const first = message(A, "live");
    await h.append(first);
    expect((await entered.promise).map((m) => m.data)).toEqual(["live"]);
    // Delivered while its store write is held, and readable beside the store meanwhile.
    await relay.received(isMessage("live"), "the message, before it is stored");
    expect((await h.store.since(A, undefined, 0, 10)).length).toBe(0);
    const unstored = await h.client.fetchUnstored({ channelId: A, viewer: "", afterSeq: 0n });
    expect(unstored.events.map((e) => JSON.parse(e.frame).data)).toEqual(["live"]);
    // The lifecycle rules can look it up already (a reaction to what just arrived live).
    expect(await h.client.getMessage({ channelId: A, id: (first as { id: string }).id })).toMatchObject({ found: true, from: "a@x.dev", to: "*", deleted: false });

    // An edit needs the stored state: it waits, and so does everything after it in channel A; B goes on.
    const edit: LogEntry = { kind: "message_edited", channel_id: A, id: (first as { id: string }).id, data: "edited", edited_at: new Date().toISOString(), by: "a@x.dev", to: "*", author: "a@x.dev" };
    await h.append(edit, message(A, "after the edit"), message(B, "elsewhere"));
    await relay.received(isMessage("elsewhere"), "channel B's message while A waits");
    expect(summary(relay.events, { [A]: "A", [B]: "B" })).toEqual(["message A live", "message B elsewhere"]);

    release.resolve();
    await relay.received(isMessage("after the edit"), "A's later message, once the edit is decided");
    expect(summary(relay.events, { [A]: "A", [B]: "B" })).toEqual(["message A live", "message B elsewhere", "MESSAGE_EDITED A *", "message A after the edit"]);
    expect((await h.store.since(A, undefined, 0, 10)).map((m) => m.data)).toEqual(["edited", "after the edit"]);
    await waitFor(async () => (await h.client.fetchUnstored({ channelId: A, viewer: "", afterSeq: 0n })).events.length === 0, "unstored messages to be dropped once stored");
  });

  test("while the store is down, consumption stops at LIMIT_UNSTORED_RECORDS: the backlog stays bounded, nothing is lost", async () => {
    const release = deferred();
    const h = startController({
      env: { LIMIT_UNSTORED_RECORDS: "1000" },
      messages: (store) =>
        withApplyBatch(store, async (batch) => {
          await release.promise;
          return store.applyBatch(batch);
        }),
    });
    running.push({ stop: async () => release.resolve() });
    const A = objectId();
    const relay = await subscribe(h.client, "relay-1", [A]);
    // Three reads' worth (the embedded log hands out at most 1,000 records a batch).
    for (let i = 0; i < 3; i++) await h.append(...Array.from({ length: 1000 }, (_, j) => message(A, `m${i * 1000 + j}`)));
    await relay.received(isMessage("m999"), "the first 1,000");
    // The barrier comes after anything the hub was given before it: a second batch would show up first.
    h.controller.hub.publish([newEvent({ kind: EventKind.MEMBER_JOINED, channelId: objectId(), seq: 1n, to: "barrier@x.dev" })]);
    await relay.received(isJoinOf("barrier@x.dev"), "the barrier");
    expect(relay.events.filter((e) => e.kind === EventKind.MESSAGE).length).toBe(1000);
    release.resolve();
    await relay.received(isMessage("m2999"), "the rest, once the store is back");
    expect(relay.events.filter((e) => e.kind === EventKind.MESSAGE).length).toBe(3000);
    await waitFor(async () => (await h.store.since(A, undefined, 0, 5000)).length === 3000, "every message stored");
  });

  test("a keyed message whose key was seen before waits for the store's verdict: a resend is never published", async () => {
    const h = startController();
    const A = objectId();
    const relay = await subscribe(h.client, "relay-1", [A]);
    const keyed = (data: string, key: string): LogEntry => ({ ...message(A, data), client_msg_id: key }) as LogEntry;
    await h.append(keyed("one", "k1"));
    await relay.received(isMessage("one"), "the first message");
    await h.append(keyed("one, resent", "k1"), keyed("two", "k2"), message(A, "end"));
    await relay.received(isMessage("end"), "the last message");
    expect(relay.events.filter((e) => e.kind === EventKind.MESSAGE).map((e) => JSON.parse(e.frame).data)).toEqual(["one", "two", "end"]);
    expect((await h.store.since(A, undefined, 0, 10)).map((m) => m.data)).toEqual(["one", "two", "end"]);
  });
});

describe("Subscribe in process (standalone)", () => {
  test("the same stream without the transport: confirmation, events, catalog errors as Connect codes", async () => {
    const h = startController();
    const A = objectId();
    const ac = new AbortController();
    const it = h.controller.subscribe({ relayId: "relay-direct", channelIds: [A] }, { signal: ac.signal })[Symbol.asyncIterator]();
    expect((await it.next()).value!.events).toEqual([]);
    await h.append(message(A, "direct"));
    let got: Event[] = [];
    while (!got.some(isMessage("direct"))) got = [...got, ...(await it.next()).value!.events];
    ac.abort();
    await it.return?.(undefined);
    const bad = h.controller.subscribe({ relayId: "a b", channelIds: [] })[Symbol.asyncIterator]();
    const err = await bad.next().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
  });
});

describe("the hub's routing", () => {
  test("a relay receives the messages of its channels only, and every membership event", async () => {
    const h = startController();
    const [A, B, C] = [objectId(), objectId(), objectId()];
    const labels = { [A]: "A", [B]: "B", [C]: "C" };
    const r1 = await subscribe(h.client, "relay-1", [A]);
    const r2 = await subscribe(h.client, "relay-2", [B]);
    // One partition, published in log order: the last entry's arrival means the others were routed.
    await h.append(message(A, "a1"), message(B, "b1"), message(C, "c1"), joined(C, "u@x.dev"));
    await r1.received(isJoinOf("u@x.dev"), "the join");
    await r2.received(isJoinOf("u@x.dev"), "the join");
    expect(summary(r1.events, labels)).toEqual(["message A a1", "MEMBER_JOINED C u@x.dev"]);
    expect(summary(r2.events, labels)).toEqual(["message B b1", "MEMBER_JOINED C u@x.dev"]);
  });

  test("UpdateInterest adds and removes channels of an open stream", async () => {
    const h = startController();
    const [A, B] = [objectId(), objectId()];
    const labels = { [A]: "A", [B]: "B" };
    const relay = await subscribe(h.client, "relay-1", [A]);

    await h.client.updateInterest({ relayId: "relay-1", add: [B], remove: [A] });
    await h.append(message(A, "a1"), message(B, "b1"), joined(A, "first@x.dev"));
    await relay.received(isJoinOf("first@x.dev"), "the first join");
    expect(summary(relay.events, labels)).toEqual(["message B b1", "MEMBER_JOINED A first@x.dev"]);

    await h.client.updateInterest({ relayId: "relay-1", add: [A], remove: [] });
    await h.append(message(A, "a2"), message(B, "b2"), joined(B, "second@x.dev"));
    await relay.received(isJoinOf("second@x.dev"), "the second join");
    expect(summary(relay.events, labels).slice(2)).toEqual(["message A a2", "message B b2", "MEMBER_JOINED B second@x.dev"]);
  });

  test("UpdateInterest for a relay without an open stream is NotFound", async () => {
    const h = startController();
    await expect(h.client.updateInterest({ relayId: "nobody", add: [objectId()] })).rejects.toMatchObject({ code: Code.NotFound });
  });
});

describe("a relay's subscription", () => {
  test("ends on the server when the relay aborts the call", async () => {
    const h = startController();
    const relay = await subscribe(h.client, "relay-1", [objectId()]);
    expect(h.controller.hub.relayCount).toBe(1);
    relay.abort();
    await relay.ended;
    expect(relay.error).toMatchObject({ code: Code.Canceled });
    await waitFor(() => h.controller.hub.relayCount === 0, "the controller to release the aborted stream");
  });

  test("is closed when the relay falls more than maxQueue events behind", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chat-controller-"));
    const store = new SqliteStore(dir);
    running.push({ stop: () => store.close() });
    const hub = new Hub({ maxQueue: 3 });
    const rpc = { hub, ephemeral: new Ephemeral(hub), teams: store, messages: store, unstored: new Unstored(), logger: quiet, metrics: createMetrics() };
    const client = createClient(ControllerService, createRouterTransport(controllerRoutes(rpc), { router: { interceptors: [errorInterceptor(rpc)] } }));
    const A = objectId();
    const ev = (seq: number) => newEvent({ kind: EventKind.MESSAGE, channelId: A, seq: BigInt(seq), to: "*", frame: "{}" });
    const relay = await subscribe(client, "slow", [A]);

    // One publish is queued whole before the stream can drain it: exactly maxQueue fits...
    hub.publish([ev(1), ev(2), ev(3)]);
    await waitFor(() => relay.events.length >= 3 || relay.done, "the three queued events");
    expect([relay.events.length, relay.done, hub.relayCount]).toEqual([3, false, 1]);
    // ...one more is a relay too slow to keep: its stream ends (it will recover from the store).
    hub.publish([ev(4), ev(5), ev(6), ev(7)]);
    await waitFor(() => relay.done, "the slow relay's stream to end");
    expect(relay.error).toBeUndefined();
    expect(relay.events.map((e) => Number(e.seq))).not.toContain(7);
    await waitFor(() => hub.relayCount === 0, "the controller to release the slow stream");
  });
});

describe("RPC edges", () => {
  const A = objectId();
  const cases: [string, (c: ControllerClient) => Promise<unknown>][] = [
    ["Subscribe: relay_id empty", (c) => first(c.subscribe({ relayId: "", channelIds: [A] }))],
    ["Subscribe: relay_id with a space", (c) => first(c.subscribe({ relayId: "relay 1", channelIds: [A] }))],
    ["Subscribe: a channel id that is no object id", (c) => first(c.subscribe({ relayId: "r", channelIds: [A, "general"] }))],
    ["UpdateInterest: relay_id", (c) => c.updateInterest({ relayId: "r/1", add: [A] })],
    ["UpdateInterest: add", (c) => c.updateInterest({ relayId: "r", add: ["x"] })],
    ["UpdateInterest: remove", (c) => c.updateInterest({ relayId: "r", remove: [A.toUpperCase()] })],
    ["GetUserChannels: user_id empty", (c) => c.getUserChannels({ userId: "" })],
    ["GetUserChannels: user_id with whitespace", (c) => c.getUserChannels({ userId: "a b@x.dev" })],
    ["GetMembership: channel_id", (c) => c.getMembership({ channelId: "../teams", userId: "a@x.dev" })],
    ["GetMembership: user_id", (c) => c.getMembership({ channelId: A, userId: "a b@x.dev" })],
    ["FetchSince: channel_id", (c) => c.fetchSince({ channelId: "", afterSeq: 0n })],
    ["FetchSince: viewer", (c) => c.fetchSince({ channelId: A, viewer: "*", afterSeq: 0n })],
    ["FetchUnstored: channel_id", (c) => c.fetchUnstored({ channelId: "x", afterSeq: 0n })],
    ["FetchUnstored: viewer", (c) => c.fetchUnstored({ channelId: A, viewer: "a b", afterSeq: 0n })],
  ];
  async function first(stream: AsyncIterable<unknown>) {
    for await (const _ of stream) return;
  }

  test.each(cases)("%s is InvalidArgument", async (_, call) => {
    const h = startController();
    await expect(call(h.client)).rejects.toMatchObject({ code: Code.InvalidArgument });
  });

  test("the same calls with valid inputs succeed", async () => {
    const h = startController();
    const relay = await subscribe(h.client, "relay-1.example:9000", [A]);
    await h.client.updateInterest({ relayId: "relay-1.example:9000", add: [objectId()], remove: [A] });
    expect(await h.client.getUserChannels({ userId: "a.b+c@x.dev" })).toMatchObject({ channelIds: [] });
    expect(await h.client.getMembership({ channelId: A, userId: "a@x.dev" })).toMatchObject({ found: false });
    expect(await h.client.fetchSince({ channelId: A, viewer: "a@x.dev", afterSeq: 0n })).toMatchObject({ events: [] });
    expect(await h.client.fetchUnstored({ channelId: A, viewer: "a@x.dev", afterSeq: 0n })).toMatchObject({ events: [] });
    relay.abort();
  });

  test("with CONTROLLER_TOKEN set, a call without it or with another token is Unauthenticated", async () => {
    const secret = "internal-secret-0123456789";
    const h = startController({ token: secret });
    const as = (token?: string) => ({ headers: token === undefined ? {} : { authorization: token } });
    for (const header of [undefined, "Bearer wrong", secret, `Bearer ${secret}2`]) {
      await expect(h.client.getMembership({ channelId: A, userId: "a@x.dev" }, as(header))).rejects.toMatchObject({ code: Code.Unauthenticated });
      await expect(first(h.client.subscribe({ relayId: "r", channelIds: [A] }, as(header)))).rejects.toMatchObject({ code: Code.Unauthenticated });
    }
    expect(h.controller.hub.relayCount).toBe(0);
    expect(await h.client.getMembership({ channelId: A, userId: "a@x.dev" }, as(`Bearer ${secret}`))).toMatchObject({ found: false });
  });

  test("a store's AppError keeps its code; any other error is an opaque Internal error, logged here", async () => {
    const logged: { msg: string; fields?: Record<string, unknown> }[] = [];
    const logger: Logger = { ...quiet, error: (msg, fields) => void logged.push({ msg, fields }) };
    let failure: Error = new AppError("unavailable", "store is down");
    const teams = { get: () => Promise.reject(failure) } as unknown as TeamStore;
    const h = startController({ teams, logger });

    await expect(h.client.getMembership({ channelId: A, userId: "a@x.dev" })).rejects.toMatchObject({ code: Code.Unavailable, rawMessage: "store is down" });
    expect(logged).toEqual([]);

    failure = new Error("driver: auth failed for password=hunter2");
    const err = await h.client.getMembership({ channelId: A, userId: "a@x.dev" }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: Code.Internal });
    expect(String(err)).not.toContain("hunter2");
    expect(logged).toEqual([{ msg: "rpc failed", fields: { method: "GetMembership", err: failure } }]);
  });
});
