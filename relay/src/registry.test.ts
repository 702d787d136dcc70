import { expect, test } from "bun:test";
import type { Server } from "bun";
import { createMetrics } from "@chat/common/metrics";
import { SocketRegistry } from "./registry";
import { broadcastTopic, directTopic, type SocketData, type WS } from "./socket";

// The slow-consumer sweep against stand-in sockets: what it reads, and whom it closes.
const LIMIT = 1000;

function fakeSocket(user: string, buffered = 0) {
  const ws = {
    data: { user, closed: false } as unknown as SocketData,
    buffered,
    reads: 0,
    closedWith: undefined as number | undefined,
    subscribe() {},
    unsubscribe() {},
    getBufferedAmount() {
      ws.reads++;
      return ws.buffered;
    },
    close(code: number) {
      ws.closedWith = code;
    },
  };
  return ws;
}

/** A registry publishing through a stand-in server; its own sweep timer stopped (the tests call sweep()). */
function registry() {
  const r = new SocketRegistry(LIMIT, createMetrics());
  r.start({ publish: () => 1 } as unknown as Server<SocketData>);
  r.stop();
  return { r };
}

test("the sweep reads only sockets of channels published to since the last sweep, and closes those over the limit with 1013", () => {
  const { r } = registry();
  const [idle, slow, fine, dm] = [fakeSocket("a@x.dev", 5 * LIMIT), fakeSocket("b@x.dev", 5 * LIMIT), fakeSocket("c@x.dev"), fakeSocket("d@x.dev", 5 * LIMIT)];
  for (const s of [idle, slow, fine, dm]) r.add(s as unknown as WS);
  r.subscribe(idle as unknown as WS, "A");
  r.subscribe(slow as unknown as WS, "B");
  r.subscribe(fine as unknown as WS, "B");
  r.subscribe(dm as unknown as WS, "C");

  r.sweep(); // nothing published: nothing read
  expect([idle.reads, slow.reads, fine.reads, dm.reads]).toEqual([0, 0, 0, 0]);

  r.publish(broadcastTopic("B"), "{}");
  r.publish(directTopic("C", "d@x.dev"), "{}");
  r.sweep();
  expect([idle.reads, slow.reads, fine.reads, dm.reads]).toEqual([0, 1, 1, 1]);
  expect([idle.closedWith, slow.closedWith, fine.closedWith, dm.closedWith]).toEqual([undefined, 1013, undefined, 1013]);

  r.sweep(); // and once more in the next round (below)
  expect([slow.reads, fine.reads, dm.reads]).toEqual([1, 2, 1]); // closed ones are not read again
  r.sweep();
  expect(fine.reads).toBe(2);
});

test("a publish whose bytes reach the socket's buffer only on a later turn is still caught by the next round", () => {
  const { r } = registry();
  const ws = fakeSocket("a@x.dev");
  r.add(ws as unknown as WS);
  r.subscribe(ws as unknown as WS, "A");
  r.publish(broadcastTopic("A"), "{}");
  r.sweep(); // the same turn: Bun has not added the frame to the buffer yet
  expect(ws.closedWith).toBeUndefined();
  ws.buffered = 5 * LIMIT; // now it has
  r.sweep();
  expect(ws.closedWith).toBe(1013);
});

test("once a quarter of the limit is published, to whichever channels, their sockets are read on the next timer turn, not at the sweep", async () => {
  const { r } = registry();
  const [a, b, idle] = [fakeSocket("a@x.dev"), fakeSocket("b@x.dev"), fakeSocket("c@x.dev")];
  for (const s of [a, b, idle]) r.add(s as unknown as WS);
  r.subscribe(a as unknown as WS, "A");
  r.subscribe(b as unknown as WS, "B");
  r.subscribe(idle as unknown as WS, "C");
  r.publish(broadcastTopic("A"), "x".repeat(LIMIT / 8));
  r.publish(broadcastTopic("B"), "x".repeat(LIMIT / 8 - 2));
  [a.buffered, b.buffered, idle.buffered] = [5 * LIMIT, 5 * LIMIT, 5 * LIMIT]; // as Bun fills them
  await new Promise((resolve) => setTimeout(resolve, 0));
  expect([a.reads, b.reads]).toEqual([0, 0]); // a quarter not reached yet
  r.publish(broadcastTopic("B"), "é"); // two bytes: the quarter reached, counted in bytes
  await new Promise((resolve) => setTimeout(resolve, 0)); // runs after the registry's own timer of this turn
  expect([a.reads, b.reads, idle.reads]).toEqual([1, 1, 0]);
  expect([a.closedWith, b.closedWith, idle.closedWith]).toEqual([1013, 1013, undefined]);
});

test("a socket in many channels is read early once they have been sent a quarter of the limit together", async () => {
  const { r } = registry();
  const ws = fakeSocket("a@x.dev");
  r.add(ws as unknown as WS);
  const channels = ["A", "B", "C", "D", "E", "F", "G", "H"];
  for (const ch of channels) r.subscribe(ws as unknown as WS, ch);
  for (const ch of channels) r.publish(broadcastTopic(ch), "x".repeat(LIMIT / 25)); // each far below a quarter
  ws.buffered = 2 * LIMIT;
  await new Promise((resolve) => setTimeout(resolve, 0));
  expect(ws.closedWith).toBe(1013);
});

test("a socket that left a channel, or closed, is no longer read for it", () => {
  const { r } = registry();
  const [left, gone, stays] = [fakeSocket("a@x.dev"), fakeSocket("b@x.dev"), fakeSocket("c@x.dev")];
  for (const s of [left, gone, stays]) {
    r.add(s as unknown as WS);
    r.subscribe(s as unknown as WS, "A");
  }
  r.unsubscribe(left as unknown as WS, "A");
  r.remove(gone as unknown as WS);
  // A socket closed by the send before its subscriptions (a `ready` frame it was too slow for): not indexed again.
  gone.data.closed = true;
  r.subscribe(gone as unknown as WS, "A");
  r.publish(broadcastTopic("A"), "{}");
  r.sweep();
  expect([left.reads, gone.reads, stays.reads]).toEqual([0, 0, 1]);
  // The sweep skips closed sockets anyway; what must not happen is the index keeping them (a leak).
  const indexed = (r as unknown as { byChannel: Map<string, Set<unknown>> }).byChannel.get("A");
  expect([indexed?.has(left), indexed?.has(gone), indexed?.has(stays)]).toEqual([false, false, true]);
});
