import { expect, test } from "bun:test";
import { waitFor } from "@chat/common/contracts/wait";
import { EventKind, type Event } from "@chat/proto/chat/v1/controller_pb";
import { Hub, newEvent, type RelayStream } from "./hub";

// The hub's replay for a relay instance whose stream was cut (hub.ts). The stream ends the way the
// Subscribe handler ends it: release() without the hub having closed it.
const [A, B, C] = ["a".repeat(24), "b".repeat(24), "c".repeat(24)];
const msg = (ch: string, seq: number) => newEvent({ kind: EventKind.MESSAGE, channelId: ch, seq: BigInt(seq), to: "*", frame: `${ch[0]}${seq}` });
const joined = (ch: string, seq: number) => newEvent({ kind: EventKind.MEMBER_JOINED, channelId: ch, seq: BigInt(seq), to: "u@x.dev", frame: `join ${ch[0]}${seq}` });
const typing = (ch: string) => newEvent({ kind: EventKind.TYPING, channelId: ch, to: "*", from: "u@x.dev", frame: "typing" });
const frames = (events: Event[]) => events.map((e) => e.frame);
const queued = (s: RelayStream) => s.next(new AbortController().signal);

test("a stream re-opened by the same relay instance starts with what was routed to it before the cut and since", async () => {
  const hub = new Hub();
  const first = hub.open("r1", [A], "i1");
  hub.publish([msg(A, 1)]);
  expect(frames(await queued(first))).toEqual(["a1"]); // taken by the stream, perhaps never arrived
  hub.publish([msg(A, 2)]); // still queued when the connection dies
  hub.release(first);
  hub.publish([msg(A, 3), msg(B, 4), joined(C, 5), typing(A)]); // while cut: B is not its channel, typing is ephemeral
  const again = hub.open("r1", [A], "i1");
  expect(again.replayed).toEqual({ events: 4, incomplete: false });
  expect(frames(await queued(again))).toEqual(["a1", "a2", "a3", "join c5"]);
  hub.publish([msg(A, 6)]);
  expect(frames(await queued(again))).toEqual(["a6"]);
});

test("the replay follows the new stream's channels", async () => {
  const hub = new Hub();
  hub.release(hub.open("r1", [A, B], "i1"));
  hub.publish([msg(A, 1), msg(B, 2)]);
  const again = hub.open("r1", [B], "i1");
  expect(frames(await queued(again))).toEqual(["b2"]);
});

test("a stream replaced by a newer one of the same instance hands its events over", async () => {
  const hub = new Hub();
  const first = hub.open("r1", [A], "i1");
  hub.publish([msg(A, 1)]);
  const second = hub.open("r1", [A], "i1"); // the relay gave up on the first before the controller noticed
  expect(first.closedReason).toBe("replaced by a newer subscription");
  expect(frames(await queued(second))).toEqual(["a1"]);
});

test("another instance under the same relay id (a restarted relay) gets nothing from before", async () => {
  const hub = new Hub();
  hub.release(hub.open("r1", [A], "i1"));
  hub.publish([msg(A, 1)]);
  const restarted = hub.open("r1", [A], "i2");
  expect(restarted.replayed).toBeUndefined();
  hub.publish([msg(A, 2)]);
  expect(frames(await queued(restarted))).toEqual(["a2"]);
  // Nor does a relay that names no instance.
  hub.release(hub.open("r2", [A]));
  hub.publish([msg(A, 3)]);
  expect(hub.open("r2", [A]).replayed).toBeUndefined();
});

test("streams the hub closed itself are not kept: a relay too slow, or shutting down", async () => {
  const hub = new Hub({ maxQueue: 1 });
  const slow = hub.open("r1", [A], "i1");
  hub.publish([msg(A, 1), msg(A, 2)]);
  expect(slow.closedReason).toBe("relay too slow");
  expect(hub.open("r1", [A], "i1").replayed).toBeUndefined(); // re-opened before the handler released it
  const slower = hub.open("r3", [A], "i3");
  hub.publish([msg(A, 3), msg(A, 4)]);
  hub.release(slower); // released first
  expect(hub.parkedCount).toBe(0);
  expect(hub.open("r3", [A], "i3").replayed).toBeUndefined();
  const s = hub.open("r2", [A], "i2");
  hub.closeAll("controller shutting down");
  hub.release(s);
  expect(hub.parkedCount).toBe(0);
  expect(hub.open("r2", [A], "i2").replayed).toBeUndefined();
});

test("at most `recent` events are replayed; past that the replay says it is incomplete", async () => {
  const hub = new Hub({ recent: 2 });
  hub.release(hub.open("r1", [A], "i1"));
  hub.publish([msg(A, 1), msg(A, 2), msg(A, 3)]);
  const again = hub.open("r1", [A], "i1");
  expect(again.replayed).toEqual({ events: 2, incomplete: true });
  expect(frames(await queued(again))).toEqual(["a2", "a3"]);
});

test("a cut with more events queued than `recent` holds replays an incomplete tail", async () => {
  const hub = new Hub({ recent: 2 });
  const first = hub.open("r1", [A], "i1");
  hub.publish([msg(A, 1), msg(A, 2), msg(A, 3)]);
  hub.release(first);
  const again = hub.open("r1", [A], "i1");
  expect(again.replayed).toEqual({ events: 2, incomplete: true });
});

test("a cut instance is forgotten after parkMs", async () => {
  const hub = new Hub({ parkMs: 20 });
  hub.release(hub.open("r1", [A], "i1"));
  expect(hub.parkedCount).toBe(1);
  await waitFor(() => hub.parkedCount === 0, "the parked instance to expire");
  hub.publish([msg(A, 1)]);
  expect(hub.open("r1", [A], "i1").replayed).toBeUndefined();
});
