import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { EmbeddedLog } from "@chat/common/adapters/embedded-log";
import { EventKind, EventSchema, type Event } from "@chat/proto/chat/v1/controller_pb";
import { scriptedController, serveRelay } from "./testing";

// The relay against a scripted controller: the test decides when the backlog read returns
// and which live events arrive meanwhile, to pin down resume's ordering rules.
const CH = "6b06d90e68a988520eac2a79";
const ev = (seq: number, to = "*", from = "a@x.dev"): Event =>
  create(EventSchema, {
    kind: EventKind.MESSAGE,
    channelId: CH,
    seq: BigInt(seq),
    to,
    from,
    frame: JSON.stringify({ event: "message", seq, channel_id: CH, to, from }),
  });

let backlog: { resolve: (events: Event[]) => void; afterSeq: bigint } | undefined;
let backlogAsked: () => void = () => {};
let holdBacklog = true;
let members = ["a@x.dev", "b@x.dev"];

const { transport, push } = scriptedController(CH, () => members, {
  fetchSince: (req) =>
    new Promise((resolve) => {
      if (!holdBacklog) return resolve({ events: [] });
      backlog = { resolve: (events) => resolve({ events }), afterSeq: req.afterSeq };
      backlogAsked();
    }),
});

let relay: Awaited<ReturnType<typeof serveRelay>>;
beforeAll(async () => {
  relay = await serveRelay("test-relay", transport, new EmbeddedLog(mkdtempSync(join(tmpdir(), "relay-test-"))));
});
afterAll(() => relay.stop());

/** A socket of `user` whose frames the test can wait on (a condition over all its frames); resolves after its ready frame. */
async function open(user: string, query = "") {
  const s = await relay.open(user, query);
  return { ...s, waitFor: (cond: () => boolean) => s.waitFor(() => cond()) };
}

test("resume: live events that arrive while the backlog is read are delivered after it, once, and only if visible", async () => {
  // A live socket of the sender: once it has seq 10, the relay has dispatched everything pushed before.
  const a = await open("a@x.dev");
  const asked = new Promise<void>((r) => (backlogAsked = r));
  const b = open("b@x.dev", `?since=${CH}:5`);
  const { ws, frames, waitFor } = await b;

  await asked;
  expect(backlog!.afterSeq).toBe(5n);
  // While the backlog read is pending: a duplicate of what it will return, a DM b may not see, and new traffic.
  push([ev(7), ev(8, "c@x.dev", "a@x.dev"), ev(9), ev(10, "b@x.dev")]);
  await a.waitFor(() => a.frames.some((f) => f.seq === 10));
  expect(frames.map((f) => f.event)).toEqual(["ready"]);
  backlog!.resolve([ev(6), ev(7)]);
  await waitFor(() => frames.length >= 5);
  push([ev(11)]); // after the resume the socket is on the live topic
  await waitFor(() => frames.length >= 6);
  expect(frames.slice(1).map((f) => f.seq)).toEqual([6, 7, 9, 10, 11]);
  ws.close();
  a.ws.close();
});

const membership = (kind: EventKind, user: string, seq: number): Event =>
  create(EventSchema, { kind, channelId: CH, seq: BigInt(seq), to: user, from: "a@x.dev", frame: JSON.stringify({ event: EventKind[kind], user, seq }) });

test("membership events out of order: sockets follow the team as stored, not a stale event", async () => {
  holdBacklog = false;
  const b = await open("b@x.dev");
  members = ["a@x.dev", "b@x.dev"]; // b was removed (v5) and added back (v6): the store says member
  const c = await open("c@x.dev"); // c was added (v5) and removed (v6): the store says not a member
  push([membership(EventKind.MEMBER_LEFT, "b@x.dev", 20), membership(EventKind.MEMBER_JOINED, "c@x.dev", 21)]);
  await b.waitFor(() => b.frames.some((f) => f.event === "channel_left"));
  push([ev(22)]);
  // b is back on the channel (resumed from the stale event's seq) and gets new traffic; c never joined
  await b.waitFor(() => b.frames.some((f) => f.seq === 22));
  expect(c.frames.some((f) => f.seq === 22)).toBe(false);
  expect(c.frames[0]).toMatchObject({ event: "ready", channels: [] });
  expect(c.frames.some((f) => f.event === "MEMBER_JOINED")).toBe(false);
  b.ws.close();
  c.ws.close();
});

test("events read from the store during a resume are not delivered again when a new controller re-sends them", async () => {
  holdBacklog = true;
  const asked = new Promise<void>((r) => (backlogAsked = r));
  const b = open("b@x.dev", `?since=${CH}:30`);
  await asked;
  backlog!.resolve([ev(31), ev(32)]); // this relay never saw 31 and 32 live: only the store had them
  const { ws, frames, waitFor } = await b;
  await waitFor(() => frames.filter((f) => f.event !== "ready").length >= 2);
  // A rebalance: the controller now owning the partition re-sends what it finds uncommitted.
  push([ev(31), ev(32), ev(33)]);
  await waitFor(() => frames.some((f) => f.seq === 33));
  expect(frames.slice(1).map((f) => f.seq)).toEqual([31, 32, 33]);
  ws.close();
  holdBacklog = false;
});

test("a resume that read from the store what has not reached this relay live yet: the other sockets still get it live, the resumed one once", async () => {
  members = ["a@x.dev", "b@x.dev", "c@x.dev"];
  const [a, c] = [await open("a@x.dev"), await open("c@x.dev")];
  push([ev(50)]);
  await c.waitFor(() => c.frames.some((f) => f.seq === 50));
  holdBacklog = true;
  const asked = new Promise<void>((r) => (backlogAsked = r));
  const b = open("b@x.dev", `?since=${CH}:49`);
  await asked;
  // 51 (a DM a→b) and 52 are stored, and on their way here on the controller's stream (a stream can lag a store read).
  backlog!.resolve([ev(50), ev(51, "b@x.dev"), ev(52)]);
  const { ws, frames, waitFor } = await b;
  await waitFor(() => frames.some((f) => f.seq === 52));
  push([ev(51, "b@x.dev"), ev(52), ev(53)]);
  for (const s of [a, c]) await s.waitFor(() => s.frames.some((f) => f.seq === 53));
  await waitFor(() => frames.some((f) => f.seq === 53));
  expect(a.frames.slice(1).map((f) => f.seq)).toEqual([50, 51, 52, 53]);
  expect(c.frames.slice(1).map((f) => f.seq)).toEqual([50, 52, 53]);
  expect(frames.slice(1).map((f) => f.seq)).toEqual([50, 51, 52, 53]);
  for (const s of [a, c]) s.ws.close();
  ws.close();
  holdBacklog = false;
});

test("a stream reopened before any live event recovers from what the resumed sockets read: every socket gets what was missed, once", async () => {
  const CH2 = "6b06d90e68a988520eac2a7a";
  const ev2 = (seq: number): Event => create(EventSchema, { kind: EventKind.MESSAGE, channelId: CH2, seq: BigInt(seq), to: "*", from: "a@x.dev", frame: JSON.stringify({ event: "message", seq, channel_id: CH2 }) });
  const store = [ev2(60), ev2(61)];
  const c2 = scriptedController(CH2, () => ["a@x.dev", "b@x.dev"], { fetchSince: (req) => ({ events: store.filter((e) => e.seq > req.afterSeq) }) });
  const r2 = await serveRelay("recover-relay", c2.transport, new EmbeddedLog(mkdtempSync(join(tmpdir(), "relay-test-"))));
  try {
    const b = await r2.open("b@x.dev", `?since=${CH2}:59`);
    await b.waitFor((f) => f.seq === 61); // read from the store: nothing of CH2 reached this relay live
    const a = await r2.open("a@x.dev");
    store.push(ev2(62)); // published while the stream is cut: it never arrives live
    c2.cut();
    for (const s of [a, b]) await s.waitFor((f) => f.seq === 62);
    expect(b.frames.slice(1).map((f) => f.seq)).toEqual([60, 61, 62]);
    expect(a.frames.slice(1).map((f) => f.seq)).toEqual([62]);
    for (const s of [a, b]) s.ws.close();
  } finally {
    await r2.stop();
  }
});
