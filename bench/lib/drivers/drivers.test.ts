import { describe, expect, test } from "bun:test";
import { readInt, type DriverSock, type FrameEvents } from "../driver";
import { bunPubSubDriver } from "./bun-pubsub";
import { centrifugoDriver } from "./centrifugo";
import { chatDriver } from "./chat";

/** Records what a driver reports, in order. */
function recorder() {
  const seen: string[] = [];
  const ev: FrameEvents = {
    ready: () => void seen.push("ready"),
    ack: (_s, t, target) => void seen.push(`ack ${t} ${target}`),
    delivery: (_s, seq, t, from) => void seen.push(`delivery ${seq} ${t} ${from}`),
    error: (_s, code, t) => void seen.push(`error ${code} ${t}`),
    foreign: () => void seen.push("foreign"),
  };
  return { seen, ev };
}

function fakeSock(idx = 3): DriverSock & { sent: string[] } {
  const sent: string[] = [];
  return { idx, user: idx, team: 0, ws: { send: (m: string) => void sent.push(m), close() {} } as unknown as WebSocket, sent };
}

describe("readInt", () => {
  test("stops at the end of a string that ends in a digit", () => {
    expect(readInt("a123", 1)).toBe(123);
    expect(readInt("42", 0)).toBe(42);
    expect(readInt("x", 0)).toBe(-1);
    expect(readInt("", 0)).toBe(-1);
  });
});

describe("bun-pubsub driver", () => {
  test("ready, ack and delivery frames", () => {
    const d = bunPubSubDriver("http://127.0.0.1:1");
    const s = fakeSock();
    const { seen, ev } = recorder();
    for (const f of ["r", "a1234567", "1234567:3:xxxx", "?"]) d.onFrame(s, f, ev);
    expect(seen).toEqual(["ready", "ack 1234567 -1", "delivery -1 1234567 3", "foreign"]);
    expect(d.publish(s, 1, -1, 1, "1:3:xx")).toBe("1:3:xx");
  });
});

describe("centrifugo driver", () => {
  test("connect+subscribe in one frame, batched replies and pushes, ping answered, ack matched by id", async () => {
    const d = centrifugoDriver("http://127.0.0.1:1", "secret");
    await d.setup({ runId: "r", teams: 1, members: 4, ttlSec: 60 });
    const s = fakeSock();
    d.onOpen(s, s.ws!);
    expect(s.sent[0]!.split("\n").map((l) => Object.keys(JSON.parse(l)))).toEqual([["id", "connect"], ["id", "subscribe"]]);
    const frame = d.publish(s, 777, -1, 1, "777:3:xxxx");
    expect(JSON.parse(frame)).toEqual({ id: 3, publish: { channel: "br-t0", data: "777:3:xxxx" } });

    const { seen, ev } = recorder();
    d.onFrame(s, '{"id":1,"connect":{"client":"c","version":"0.0.0 OSS","ping":25,"pong":true}}', ev);
    d.onFrame(s, '{"id":2,"subscribe":{}}\n{"push":{"channel":"br-t0","pub":{"data":"777:3:xxxx","info":{"user":"u","client":"c"}}}}\n{"id":3,"publish":{}}', ev);
    d.onFrame(s, "{}", ev);
    d.onFrame(s, '{"id":3,"publish":{}}', ev); // a second reply for the same id is not a second ack
    expect(seen).toEqual(["foreign", "ready", "delivery -1 777 3", "ack 777 -1", "foreign", "foreign"]);
    expect(s.sent.at(-1)).toBe("{}");
  });

  test("an error reply to a publish reports its send time", async () => {
    const d = centrifugoDriver("http://127.0.0.1:1", "secret");
    await d.setup({ runId: "r", teams: 1, members: 4, ttlSec: 60 });
    const s = fakeSock();
    d.onOpen(s, s.ws!);
    d.publish(s, 555, -1, 1, "555:3:x");
    const { seen, ev } = recorder();
    d.onFrame(s, '{"id":3,"error":{"code":103,"message":"permission denied"}}', ev);
    expect(seen).toEqual(["error centrifugo 103 555"]);
  });
});

describe("chat driver", () => {
  test("fast-path ack and message frames, JSON fallback for the rest", () => {
    const d = chatDriver({ base: "http://127.0.0.1:1", secret: "s", via: "header", setupConcurrency: 1 });
    const s = fakeSock();
    const { seen, ev } = recorder();
    d.onFrame(s, '{"event":"ack","client_msg_id":"900.0.3.1","seq":5}', ev);
    d.onFrame(s, '{"event":"message","channel_id":"c","seq":5,"from":"u","to":"*","type":"text","data":"900:3:xxxx"}', ev);
    d.onFrame(s, '{"event":"ready","user_id":"u"}', ev);
    d.onFrame(s, '{"event":"error","code":"rate_limited","client_msg_id":"901.0.3.2"}', ev);
    expect(seen).toEqual(["ack 900 -1", "delivery 5 900 3", "ready", "error rate_limited 901"]);
  });

  test("an existing team: no REST setup, its id and the users' pattern in the frames", async () => {
    // base points nowhere: any REST call would fail the setup
    const d = chatDriver({ base: "http://127.0.0.1:1", secret: "s", via: "header", setupConcurrency: 1, existing: { team: "T42", users: "m{n}@bench.dev" } });
    const r = await d.setup({ runId: "r", teams: 1, members: 3, ttlSec: 60 });
    expect(r.calls).toBe(0);
    const s = { ...fakeSock(1), team: 0, user: 1 };
    expect(d.publish(s, 900, -1, 1, "900:1:xx")).toContain('"channel_id":"T42","to":"*"');
    expect(d.publish(s, 900, 2, 2, "900:1:xx")).toContain('"to":"m2@bench.dev"');
    await expect(d.setup({ runId: "r", teams: 2, members: 3, ttlSec: 60 })).rejects.toThrow();
  });
});
