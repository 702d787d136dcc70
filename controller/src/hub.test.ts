import { expect, test } from "bun:test";
import { waitFor } from "@chat/common/contracts/wait";
import { EventKind, type Event } from "@chat/proto/chat/v1/controller_pb";
import { Hub, newEvent, type RelayStream } from "./hub";
import { Recent } from "./recent";

// The hub's replay for a relay instance whose stream was cut (hub.ts). A stream ends the way the
// Subscribe handler ends it: release() without the hub having closed it. What the relay "received"
// is the position it says it had when it opens the next stream.
const [A, B, C] = ["a".repeat(24), "b".repeat(24), "c".repeat(24)];
const msg = (ch: string, seq: number) => newEvent({ kind: EventKind.MESSAGE, channelId: ch, seq: BigInt(seq), to: "*", frame: `${ch[0]}${seq}` });
const joined = (ch: string, seq: number) => newEvent({ kind: EventKind.MEMBER_JOINED, channelId: ch, seq: BigInt(seq), to: "u@x.dev", frame: `join ${ch[0]}${seq}` });
const typing = (ch: string) => newEvent({ kind: EventKind.TYPING, channelId: ch, to: "*", from: "u@x.dev", frame: "typing" });
const frames = (events: Event[]) => events.map((e) => e.frame);
const taken = (s: RelayStream) => s.next(new AbortController().signal);
/** What the relay has of `s` once it received its last response: that response's epoch and position. */
const had = (s: RelayStream) => ({ epoch: s.recent.epoch, position: s.position });
const none = { epoch: "", position: 0 };

test("positions count the log events routed to a relay instance; each batch says how far it goes", async () => {
  const hub = new Hub();
  const s = hub.open("r1", [A], "i1");
  expect(s.position).toBe(0);
  hub.publish([msg(A, 1), typing(A), msg(B, 2), msg(A, 3)]);
  expect(frames(await taken(s))).toEqual(["a1", "typing", "a3"]);
  expect(s.position).toBe(2); // typing is not counted, B is not routed here
});

test("a stream re-opened by the same instance after a cut replays what was routed after the position the relay had", async () => {
  const hub = new Hub();
  const first = hub.open("r1", [A], "i1");
  hub.publish([msg(A, 1)]);
  expect(frames(await taken(first))).toEqual(["a1"]);
  const received = had(first); // the relay got a1
  hub.publish([msg(A, 2)]);
  await taken(first); // a2 was sent as the connection died: never received
  hub.publish([msg(A, 3)]); // still queued
  hub.release(first);
  hub.publish([msg(A, 4), msg(B, 5), joined(C, 6), typing(A)]); // while cut: B is not its channel, typing is ephemeral
  const again = hub.open("r1", [A], "i1", received);
  expect(had(again)).toEqual(received); // the first response says where the stream starts
  expect(again.replayed).toEqual({ events: 4, incomplete: false });
  expect(frames(await taken(again))).toEqual(["a2", "a3", "a4", "join c6"]);
  expect(again.position).toBe(5);
  hub.publish([msg(A, 7)]);
  expect(frames(await taken(again))).toEqual(["a7"]);
});

test("nothing the relay received is replayed, however old the kept events", async () => {
  const hub = new Hub();
  const first = hub.open("r1", [A], "i1");
  hub.publish([msg(A, 1), msg(A, 2)]);
  await taken(first);
  hub.release(first);
  const again = hub.open("r1", [A], "i1", had(first));
  expect(again.replayed).toEqual({ events: 0, incomplete: false });
  hub.release(again);
  expect(hub.open("r1", [A], "i1", had(again)).replayed).toEqual({ events: 0, incomplete: false });
});

test("the replay follows the new stream's channels", async () => {
  const hub = new Hub();
  hub.release(hub.open("r1", [A, B], "i1"));
  hub.publish([msg(A, 1), msg(B, 2)]);
  const again = hub.open("r1", [B], "i1", none);
  expect(frames(await taken(again))).toEqual(["b2"]);
});

test("a channel the relay takes up while cut gets what it received meanwhile, numbered like the rest", async () => {
  const hub = new Hub();
  const first = hub.open("r1", [A], "i1");
  hub.publish([msg(A, 1)]);
  await taken(first);
  hub.release(first);
  hub.publish([msg(B, 2), msg(A, 3), typing(B), msg(C, 4)]); // B and C were not its channels then
  const again = hub.open("r1", [A, B], "i1", had(first)); // a socket of B was admitted during the cut
  expect(again.replayed).toEqual({ events: 2, incomplete: false });
  expect(frames(await taken(again))).toEqual(["a3", "b2"]); // each channel in seq order; C is not its channel
  expect(again.position).toBe(3);
  // Cut again at once: what it received of B is not replayed a second time.
  hub.release(again);
  hub.publish([msg(B, 5)]);
  const third = hub.open("r1", [A, B], "i1", had(again));
  expect(frames(await taken(third))).toEqual(["b5"]);
});

const ofChannel = (events: Event[], ch: string) => frames(events.filter((e) => e.channelId === ch));

test("a channel taken up while cut is replayed in seq order, its membership events among its messages, also when that replay is cut off", async () => {
  const hub = new Hub();
  hub.release(hub.open("r1", [A], "i1"));
  // Membership events reach every relay (numbered with its channels'); B's messages are kept apart.
  hub.publish([msg(B, 1), joined(B, 2), msg(A, 3), msg(B, 4)]);
  const again = hub.open("r1", [A, B], "i1", none);
  const got = await taken(again);
  expect(ofChannel(got, B)).toEqual(["b1", "join b2", "b4"]);
  expect(ofChannel(got, A)).toEqual(["a3"]);
  // That batch never reached the relay: the next stream replays it again, in the same order per channel.
  hub.release(again);
  const third = hub.open("r1", [A, B], "i1", { epoch: again.recent.epoch, position: 0 });
  const again2 = await taken(third);
  expect(ofChannel(again2, B)).toEqual(["b1", "join b2", "b4"]);
  expect(ofChannel(again2, A)).toEqual(["a3"]);
});

test("the events kept for other channels are bounded in characters too; only a channel of the relay's that lost some makes the replay incomplete", async () => {
  const big = (ch: string, seq: number) => newEvent({ kind: EventKind.MESSAGE, channelId: ch, seq: BigInt(seq), to: "*", frame: `${ch[0]}${seq}`.padEnd(4, ".") });
  const hub = new Hub({ recentEvents: 100, recentChars: 12 });
  hub.release(hub.open("r1", [A], "i1"));
  hub.publish([big(C, 1), big(B, 2), big(B, 3), big(B, 4)]); // 16 characters: C's goes
  const again = hub.open("r1", [A, B], "i1", none);
  expect(again.replayed).toEqual({ events: 3, incomplete: false }); // what was pushed out was not of the relay's channels
  expect(frames(await taken(again))).toEqual(["b2..", "b3..", "b4.."]);
  const lost = new Hub({ recentEvents: 100, recentChars: 12 });
  lost.release(lost.open("r1", [A], "i1"));
  lost.publish([1, 2, 3, 4].map((seq) => big(B, seq)));
  expect(lost.open("r1", [A, B], "i1", none).replayed).toEqual({ events: 3, incomplete: true });

  const one = new Hub({ recentEvents: 100, recentChars: 2 });
  one.release(one.open("r1", [A], "i1"));
  one.publish([big(B, 1)]); // larger than the bound alone: kept, like the numbered ring keeps its newest
  expect(frames(await taken(one.open("r1", [A, B], "i1", none)))).toEqual(["b1.."]);
});

test("the events kept for channels taken up while cut are bounded too; a replay that lacks some says so", async () => {
  const hub = new Hub({ recentEvents: 3 });
  hub.release(hub.open("r1", [A], "i1"));
  hub.publish([1, 2, 3, 4, 5].map((seq) => msg(B, seq)));
  const again = hub.open("r1", [A, B], "i1", none);
  expect(again.replayed?.incomplete).toBe(true);
  const got = frames(await taken(again));
  expect(got.length).toBeLessThanOrEqual(3);
  expect(got).toEqual(["b1", "b2", "b3", "b4", "b5"].slice(5 - got.length)); // the newest, in order
});

test("a stream replaced by a newer one of the same instance hands over what the relay did not have", async () => {
  const hub = new Hub();
  const first = hub.open("r1", [A], "i1");
  hub.publish([msg(A, 1)]);
  await taken(first);
  hub.publish([msg(A, 2)]);
  const second = hub.open("r1", [A], "i1", had(first)); // the relay gave up on the first before the controller noticed
  expect(first.closedReason).toBe("replaced by a newer subscription");
  expect(frames(await taken(second))).toEqual(["a2"]);
});

test("another instance under the same relay id (a restarted relay) gets nothing from before, nor one that names none", async () => {
  const hub = new Hub();
  hub.release(hub.open("r1", [A], "i1"));
  hub.publish([msg(A, 1)]);
  const restarted = hub.open("r1", [A], "i2", none);
  expect([restarted.replayed, restarted.position]).toEqual([undefined, 0]);
  hub.publish([msg(A, 2)]);
  expect(frames(await taken(restarted))).toEqual(["a2"]);
  hub.release(hub.open("r2", [A]));
  hub.publish([msg(A, 3)]);
  expect(hub.open("r2", [A]).replayed).toBeUndefined();
});

test("a position of another count (the relay never got a response of this one) means it has none of it", async () => {
  const hub = new Hub();
  const stale = { epoch: "an-epoch-from-a-controller-restarted-since", position: 3 };
  // Its first stream here was cut before the first response arrived: the relay still has the old epoch.
  const first = hub.open("r1", [A], "i1", stale);
  expect([first.replayed, first.position]).toEqual([undefined, 0]);
  hub.publish([msg(A, 1), msg(A, 2), msg(A, 3), msg(A, 4), msg(A, 5)]);
  hub.release(first);
  const again = hub.open("r1", [A], "i1", stale);
  expect(again.replayed).toEqual({ events: 5, incomplete: false });
  expect(frames(await taken(again))).toEqual(["a1", "a2", "a3", "a4", "a5"]);
  hub.release(again);
  // Beyond this count under its own epoch (cannot happen): taken as none of it too.
  expect(hub.open("r1", [A], "i1", { epoch: again.recent.epoch, position: 99 }).replayed).toEqual({ events: 5, incomplete: false });
});

test("streams the hub closed itself are not kept: a relay too slow, or shutting down", () => {
  const hub = new Hub({ maxQueue: 1 });
  const slow = hub.open("r1", [A], "i1");
  hub.publish([msg(A, 1), msg(A, 2)]);
  expect(slow.closedReason).toBe("relay too slow");
  expect(hub.open("r1", [A], "i1", none).replayed).toBeUndefined(); // re-opened before the handler released it
  const slower = hub.open("r3", [A], "i3");
  hub.publish([msg(A, 3), msg(A, 4)]);
  hub.release(slower); // released before re-opening
  expect(hub.parkedCount).toBe(0);
  expect(hub.open("r3", [A], "i3", none).replayed).toBeUndefined();
  const s = hub.open("r2", [A], "i2");
  hub.closeAll("controller shutting down");
  hub.release(s);
  expect(hub.parkedCount).toBe(0);
  expect(hub.open("r2", [A], "i2", none).replayed).toBeUndefined();
});

test("at most `recentEvents` events (and `recentChars` of frames) are kept; a replay that lacks some says it is incomplete", async () => {
  const hub = new Hub({ recentEvents: 2 });
  hub.release(hub.open("r1", [A], "i1"));
  hub.publish([msg(A, 1), msg(A, 2), msg(A, 3)]);
  const again = hub.open("r1", [A], "i1", none);
  expect(again.replayed).toEqual({ events: 2, incomplete: true });
  expect(frames(await taken(again))).toEqual(["a2", "a3"]);

  const ring = new Recent(100, 5); // frames of 2 characters: two fit
  for (const seq of [1, 2, 3]) ring.push(msg(A, seq));
  expect(frames(ring.after(0).events)).toEqual(["a2", "a3"]);
  expect([ring.after(0).complete, ring.after(1).complete, ring.after(3)]).toEqual([false, true, { events: [], complete: true }]);
});

test("a cut instance is forgotten after parkMs", async () => {
  const hub = new Hub({ parkMs: 20 });
  hub.release(hub.open("r1", [A], "i1"));
  expect(hub.parkedCount).toBe(1);
  await waitFor(() => hub.parkedCount === 0, "the parked instance to expire");
  hub.publish([msg(A, 1)]);
  expect(hub.open("r1", [A], "i1", none).replayed).toBeUndefined();
});
