import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { EmbeddedLog } from "@chat/common/adapters/embedded-log";
import { signDevToken } from "@chat/common/auth";
import { loadConfig } from "@chat/common/config";
import { log } from "@chat/common/log";
import { ControllerService, EventKind, EventSchema, type Event } from "@chat/proto/chat/v1/controller_pb";
import { createRelay, type SocketData } from "./service";

// The relay against a scripted controller: the test decides when the backlog read returns
// and which live events arrive meanwhile, to pin down resume's ordering rules.
const CH = "6b06d90e68a988520eac2a79";
const SECRET = "relay-test-secret".padEnd(40, "x");
const ev = (seq: number, to = "*", from = "a@x.dev"): Event =>
  create(EventSchema, {
    kind: EventKind.MESSAGE,
    channelId: CH,
    seq: BigInt(seq),
    to,
    from,
    frame: JSON.stringify({ event: "message", seq, channel_id: CH, to, from }),
  });

let push: (events: Event[]) => void = () => {};
let backlog: { resolve: (events: Event[]) => void; afterSeq: bigint } | undefined;
let backlogAsked: () => void = () => {};
let holdBacklog = true;
let members = ["a@x.dev", "b@x.dev"];

const transport = createRouterTransport((router) =>
  router.service(ControllerService, {
    async *subscribe(_req, ctx) {
      const queue: Event[][] = [];
      let wake: (() => void) | undefined;
      push = (events) => {
        queue.push(events);
        wake?.();
      };
      yield { events: [] };
      while (!ctx.signal.aborted) {
        if (!queue.length) await new Promise<void>((r) => (wake = r));
        while (queue.length) yield { events: queue.shift()! };
      }
    },
    updateInterest: () => ({}),
    getUserChannels: (req) => ({ channelIds: members.includes(req.userId) ? [CH] : [] }),
    getChannel: () => ({ found: true, active: true, members }),
    fetchSince: (req) =>
      new Promise((resolve) => {
        if (!holdBacklog) return resolve({ events: [] });
        backlog = { resolve: (events) => resolve({ events }), afterSeq: req.afterSeq };
        backlogAsked();
      }),
  }),
);

const config = loadConfig({ AUTH_JWT_SECRET: SECRET, RELAY_ID: "test-relay" });
const relay = createRelay(
  config,
  { log: new EmbeddedLog(mkdtempSync(join(tmpdir(), "relay-test-"))), controllers: [{ name: "scripted", client: createClient(ControllerService, transport) }] },
  { logger: log.child({ test: "relay" }) },
);
let server: ReturnType<typeof Bun.serve<SocketData>>;

beforeAll(async () => {
  server = Bun.serve<SocketData>({ port: 0, hostname: "127.0.0.1", fetch: (req, s) => relay.fetch(req, s), websocket: relay.websocket });
  relay.start(server);
  await relay.whenConnected();
});
afterAll(async () => {
  await relay.stop();
  server.stop(true);
});

/** A socket of `user` whose frames the test can wait on; resolves after its ready frame. */
async function open(user: string, query = "") {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/ws${query}`, { headers: { authorization: `Bearer ${await signDevToken(SECRET, user)}` } } as any);
  const frames: any[] = [];
  let onFrame = () => {};
  ws.onmessage = (e) => {
    frames.push(JSON.parse(String(e.data)));
    onFrame();
  };
  const waitFor = (pred: () => boolean) => new Promise<void>((r) => ((onFrame = () => pred() && r()), onFrame()));
  await waitFor(() => frames.length > 0); // ready
  return { ws, frames, waitFor };
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
