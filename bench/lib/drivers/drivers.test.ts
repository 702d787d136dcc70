import { describe, expect, test } from "bun:test";
import { readInt, type DriverSock, type FrameEvents } from "../driver";
import { bunPubSubDriver } from "./bun-pubsub";
import { centrifugoDriver } from "./centrifugo";
import { chatDriver } from "./chat";
import type { WsLike } from "../ws-client";

/** Records what a driver reports, in order. */
function recorder() {
  const seen: string[] = [];
  const ev: FrameEvents = {
    ready: () => void seen.push("ready"),
    ack: (_s, t, target, id) => void seen.push(`ack ${t} ${target}${id !== undefined ? ` ${id}` : ""}`),
    delivery: (_s, seq, t, from, id, dm) => void seen.push(`delivery ${seq} ${t} ${from}${id !== undefined ? ` ${id} ${dm ? "dm" : "team"}` : ""}`),
    error: (_s, code, t, op) => void seen.push(`error ${code} ${t}${op ? ` ${op.kind}` : ""}`),
    foreign: () => void seen.push("foreign"),
    opAck: (_s, op) => void seen.push(`opAck ${op.kind} ${op.t} ${op.peer}${op.kind === "react" ? ` ${op.slot}.${op.gen}.${op.emoji}.${op.on}` : ""}`),
    edited: (_s, seq, t, from) => void seen.push(`edited ${seq} ${t} ${from}`),
    reaction: (_s, seq, id, emoji, on, user) => void seen.push(`reaction ${seq} ${id} ${emoji} ${on} ${user}`),
  };
  return { seen, ev };
}

function fakeSock(idx = 3): DriverSock & { sent: string[] } {
  const sent: string[] = [];
  return { idx, user: idx, team: 0, ws: { send: (m: string) => void sent.push(m), close() {} } as unknown as WsLike, sent };
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

  test("a message_edited frame is an edit, never a message", () => {
    const s = fakeSock();
    const { seen, ev } = recorder();
    const plain = chatDriver({ base: "http://127.0.0.1:1", secret: "s", via: "header", setupConcurrency: 1 });
    plain.onFrame(s, '{"event":"message_edited","channel_id":"c","id":"aaaaaaaaaaaaaaaaaaaaaaaa","seq":9,"data":"950:4:xx","edited_at":"t","by":"u"}', ev);
    const d = chatDriver({ base: "http://127.0.0.1:1", secret: "s", via: "header", setupConcurrency: 1, trackIds: true });
    d.onFrame(s, '{"event":"message_edited","channel_id":"c","id":"aaaaaaaaaaaaaaaaaaaaaaaa","seq":9,"data":"950:4:xx","edited_at":"t","by":"u"}', ev);
    expect(seen).toEqual(["foreign", "edited 9 950 4"]);
  });

  test("with ids tracked: ids and DM flag on acks and messages; op acks, op errors and reaction events", async () => {
    const d = chatDriver({ base: "http://127.0.0.1:1", secret: "s", via: "header", setupConcurrency: 1, trackIds: true });
    const s = fakeSock();
    const { seen, ev } = recorder();
    const id = "0123456789abcdef01234567";
    d.onFrame(s, `{"event":"ack","client_msg_id":"900.0.3.1","id":"${id}","seq":5,"ts":"t"}`, ev);
    d.onFrame(s, `{"event":"message","id":"${id}","seq":5,"channel_id":"c","to":"*","type":"text","data":"900:3:xxxx","ts":"t","from":"u"}`, ev);
    d.onFrame(s, `{"event":"message","id":"${id}","seq":6,"channel_id":"c","to":"b@x.dev","type":"text","data":"901:2:xxxx","ts":"t","from":"u"}`, ev);
    d.onFrame(s, `{"event":"ack","op":"edit","client_msg_id":"e910.3.3.7","id":"${id}","seq":7,"ts":"t"}`, ev);
    d.onFrame(s, `{"event":"ack","op":"react","client_msg_id":"r920.0.3.5.2.1.1","id":"${id}","seq":8,"ts":"t"}`, ev);
    d.onFrame(s, `{"event":"ack","op":"edit","client_msg_id":"r920.0.3.5.2.1.1","id":"${id}","seq":8,"ts":"t"}`, ev); // op and id disagree
    d.onFrame(s, '{"event":"error","code":"forbidden","message":"m","client_msg_id":"e930.0.3.8"}', ev);
    // users are known after setup only; an unknown user's reaction is foreign
    d.onFrame(s, `{"event":"reaction_added","channel_id":"c","id":"${id}","seq":9,"emoji":"heart","user":"nobody"}`, ev);
    d.onFrame(s, `{"event":"reaction_added","channel_id":"c","id":"${id}","seq":9,"emoji":"not-ours","user":"nobody"}`, ev);
    expect(seen).toEqual([
      `ack 900 -1 ${id}`,
      `delivery 5 900 3 ${id} team`,
      `delivery 6 901 2 ${id} dm`,
      "opAck edit 910 2",
      "opAck react 920 -1 5.2.1.true",
      "foreign",
      "error forbidden 930 edit",
      "foreign",
      "foreign",
    ]);
  });

  test("op frames carry the op's client_msg_id", () => {
    const d = chatDriver({ base: "http://127.0.0.1:1", secret: "s", via: "header", setupConcurrency: 1, trackIds: true });
    const s = fakeSock();
    const id = "0123456789abcdef01234567";
    const e = JSON.parse(d.lifecycle!.edit(s, 123, 4, 9, id, "123:3:xx"));
    expect(e).toMatchObject({ op: "edit", id, data: "123:3:xx", client_msg_id: "e123.5.3.9" });
    const r = JSON.parse(d.lifecycle!.react(s, 124, -1, 6, 2, id, 1, false));
    expect(r).toMatchObject({ op: "react", id, emoji: "heart", on: false, client_msg_id: "r124.0.3.6.2.1.0" });
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
