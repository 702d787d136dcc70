import { describe, expect, test } from "bun:test";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { objectId } from "@chat/common/ids";
import type { Logger } from "@chat/common/log";
import { createMetrics } from "@chat/common/metrics";
import type { MessageStore, TeamStore } from "@chat/common/ports";
import { ControllerService, EventKind, type Event } from "@chat/proto/chat/v1/controller_pb";
import { Ephemeral } from "./ephemeral";
import { Hub } from "./hub";
import { Unstored } from "./unstored";
import { controllerRoutes, errorInterceptor } from "./routes";

// Presence and typing through the controller's Connect service, in memory, on a fake clock.
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

function setup() {
  let now = 1_000_000;
  const hub = new Hub();
  const ephemeral = new Ephemeral(hub, () => now);
  // No store is touched by these RPCs: any call to one fails the test.
  const none = new Proxy({}, { get: () => () => Promise.reject(new Error("ephemeral traffic reached a store")) });
  const rpc = { hub, ephemeral, teams: none as TeamStore, messages: none as MessageStore, unstored: new Unstored(), logger: quiet, metrics: createMetrics() };
  const client = createClient(ControllerService, createRouterTransport(controllerRoutes(rpc), { router: { interceptors: [errorInterceptor(rpc)] } }));
  /** A relay's stream, read in the background. */
  const stream = async (relayId: string, channelIds: string[]) => {
    const ac = new AbortController();
    const it = client.subscribe({ relayId, channelIds }, { signal: ac.signal })[Symbol.asyncIterator]();
    await it.next(); // the confirmation
    const events: Event[] = [];
    void (async () => {
      try {
        for (let r = await it.next(); !r.done; r = await it.next()) events.push(...r.value.events);
      } catch {}
    })();
    const until = async (pred: () => boolean) => {
      for (let i = 0; i < 200 && !pred(); i++) await Bun.sleep(5);
      expect(pred()).toBe(true);
    };
    return { events, until, abort: () => ac.abort() };
  };
  return { client, ephemeral, hub, stream, advance: (ms: number) => (now += ms), now: () => now };
}

const T = objectId();
const update = (o: Record<string, unknown>) => ({ update: { relayId: "r1", epoch: "e1", seq: 1n, baseSeq: 0n, full: false, up: [], down: [], leaseMs: 15_000, ...o } });

describe("presence through the controller", () => {
  test("an accepted update is forwarded to every relay and answers GetPresence; a change it cannot place asks for the whole state", async () => {
    const { client, stream } = setup();
    const other = await stream("r2", []); // no interest in T: presence reaches it anyway
    expect((await client.announcePresence(update({ seq: 3n, baseSeq: 2n, up: [{ user: "u@x.dev", channelIds: [T] }] }))).resync).toBe(true);
    expect((await client.announcePresence(update({ seq: 3n, full: true, up: [{ user: "u@x.dev", channelIds: [T] }] }))).resync).toBe(false);
    expect((await client.getPresence({ channelId: T })).online).toEqual(["u@x.dev"]);
    await other.until(() => other.events.length === 1);
    expect(other.events[0]).toMatchObject({ kind: EventKind.PRESENCE, presence: { relayId: "r1", seq: 3n, full: true } });
    other.abort();
  });

  test("a relay's new stream starts with every relay's whole state", async () => {
    const { client, stream, advance } = setup();
    await client.announcePresence(update({ full: true, up: [{ user: "u@x.dev", channelIds: [T] }] }));
    advance(5_000);
    const late = await stream("r2", []);
    await late.until(() => late.events.length === 1);
    expect(late.events[0]!.presence).toMatchObject({ relayId: "r1", full: true, leaseMs: 10_000, up: [{ user: "u@x.dev", channelIds: [T] }] });
    late.abort();
  });

  test("a lease not renewed expires; the user stays online through the grace", async () => {
    const { client, ephemeral, advance } = setup();
    await client.announcePresence(update({ full: true, up: [{ user: "u@x.dev", channelIds: [T] }] }));
    advance(15_000);
    ephemeral.tick();
    expect((await client.getPresence({ channelId: T })).online).toEqual(["u@x.dev"]);
    advance(5_000);
    ephemeral.tick();
    expect((await client.getPresence({ channelId: T })).online).toEqual([]);
  });

  test("bad updates are refused", async () => {
    const { client } = setup();
    await expect(client.announcePresence(update({ full: true, up: [{ user: "bad user", channelIds: [T] }] }))).rejects.toThrow(/user_id/);
    await expect(client.announcePresence(update({ full: true, leaseMs: 0 }))).rejects.toThrow(/lease/);
    await expect(client.announcePresence({})).rejects.toThrow(/update/);
  });
});

describe("typing through the controller", () => {
  test("forwarded only to relays interested in the channel, at most once per user and channel per 2 s", async () => {
    const { client, stream, advance } = setup();
    const T2 = objectId();
    const [inT, elsewhere] = [await stream("r1", [T]), await stream("r2", [T2])];
    const typing = (user: string) => client.publishTyping({ relayId: "r1", channelId: T, user, to: "*" });
    expect((await typing("u@x.dev")).forwarded).toBe(true);
    expect((await typing("u@x.dev")).forwarded).toBe(false);
    expect((await typing("v@x.dev")).forwarded).toBe(true); // another user is throttled apart
    advance(2_000);
    expect((await typing("u@x.dev")).forwarded).toBe(true);
    await inT.until(() => inT.events.length === 3);
    expect(inT.events.map((e) => [e.kind, e.from, e.seq])).toEqual([
      [EventKind.TYPING, "u@x.dev", 0n],
      [EventKind.TYPING, "v@x.dev", 0n],
      [EventKind.TYPING, "u@x.dev", 0n],
    ]);
    expect(JSON.parse(inT.events[0]!.frame)).toEqual({ event: "typing", channel_id: T, user: "u@x.dev", to: "*" });
    // A barrier on the other relay's own channel: it arrives, and alone.
    await client.publishTyping({ relayId: "r2", channelId: T2, user: "w@x.dev", to: "*" });
    await elsewhere.until(() => elsewhere.events.length > 0);
    expect(elsewhere.events.map((e) => e.channelId)).toEqual([T2]);
    inT.abort();
    elsewhere.abort();
  });
});
