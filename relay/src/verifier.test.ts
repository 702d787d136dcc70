import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import type { LogRecord, MessageLog } from "@chat/common/ports";
import { EventKind, EventSchema, type Event } from "@chat/proto/chat/v1/controller_pb";
import type { AckInfo } from "./dedupe";
import { scriptedController, serveRelay, type TestSocket } from "./testing";
import { Verdicts } from "./verdicts";
import { LookupGate } from "./verifier";

// client_msg_id verdicts: a relay in front of a scripted controller whose streams, store reads and log
// the test drives. Sockets here are young (DEDUPE_RECONNECT_SEC defaults to 10 s), so every keyed send
// is one whose key another relay may already hold.
const CH = "6b06d90e68a988520eac2a79";
const OTHER = "6b06d90e68a988520eac2a7a";
const A = "a@x.dev";

const message = (channelId: string, id: string, seq: number): Event =>
  create(EventSchema, { kind: EventKind.MESSAGE, channelId, seq: BigInt(seq), to: "*", from: A, frame: JSON.stringify({ event: "message", id, seq, channel_id: channelId }) });

describe("Verdicts", () => {
  test("an append's own message is `mine`; a later entry of its channel without it is `passed`", async () => {
    const v = new Verdicts();
    const watch = (ch: string, id: string, seq: number) => {
      const w = v.watch(ch, id);
      w.at(seq);
      return w;
    };
    const own = watch(CH, "a".repeat(24), 10);
    const lost = watch(CH, "b".repeat(24), 11);
    const elsewhere = watch(OTHER, "c".repeat(24), 5);
    // Its own event before a later one in the same batch: `mine`, whatever follows.
    v.notify([message(CH, "a".repeat(24), 10), message(CH, "d".repeat(24), 12), message(OTHER, "e".repeat(24), 5)]);
    expect(await own.verdict).toBe("mine");
    expect(await lost.verdict).toBe("passed");
    expect(v.watching).toBe(1); // seq 5 is not past 5; another channel's seq 12 says nothing
    v.notify([message(OTHER, "f".repeat(24), 6)]);
    expect(await elsewhere.verdict).toBe("passed");
    expect(v.watching).toBe(0);
  });

  test("a watch started before the append: its own event or a later entry may come back before the seq is known", async () => {
    const v = new Verdicts();
    const early = v.watch(CH, "a".repeat(24));
    v.notify([message(CH, "a".repeat(24), 10)]); // the stream was faster than the log's answer
    expect(await early.verdict).toBe("mine");
    const lost = v.watch(CH, "b".repeat(24));
    const kept = v.watch(CH, "c".repeat(24));
    v.notify([message(CH, "d".repeat(24), 12)]);
    expect(v.watching).toBe(2); // nothing is passed before its seq is known
    kept.at(13);
    lost.at(11); // seq 12 came back while this waited for its seq: passed
    expect(await lost.verdict).toBe("passed");
    expect(v.watching).toBe(1);
    kept.cancel();
  });

  test("a cancelled watch is forgotten", () => {
    const v = new Verdicts();
    v.watch(CH, "a".repeat(24)).cancel();
    expect(v.watching).toBe(0);
  });
});

describe("LookupGate", () => {
  test("needed reads queue behind `concurrency`; spare ones are skipped while others wait or the budget is spent", async () => {
    let inFlight = 0;
    let most = 0;
    const releases: (() => void)[] = [];
    const gate = new LookupGate(
      async () => {
        most = Math.max(most, ++inFlight);
        await new Promise<void>((r) => releases.push(r));
        inFlight--;
        return null;
      },
      2,
      3,
    );
    const reads = Array.from({ length: 5 }, () => gate.needed(CH, A, "k"));
    expect(gate.spare(CH, A, "k")).toBeUndefined(); // reads are queued: a speculative one waits for a quieter moment
    while (releases.length || inFlight) {
      releases.shift()?.();
      await Bun.sleep(1);
    }
    await Promise.all(reads);
    expect(most).toBe(2);
    const spares = Array.from({ length: 5 }, () => gate.spare(CH, A, "k"));
    expect(spares.filter(Boolean).length).toBe(2); // two slots free, then the gate is full
    while (releases.length || inFlight) {
      releases.shift()?.();
      await Bun.sleep(1);
    }
    expect(gate.spare(CH, A, "k")).toBeDefined(); // the third token
    releases.shift()?.();
    await Bun.sleep(1);
    expect(gate.spare(CH, A, "k")).toBeUndefined(); // 3 per second, spent
    expect(gate.counts).toEqual({ made: 8, skipped: 5 });
  });
});

// --- a relay, a scripted controller, a counting log ---

const stored = new Map<string, AckInfo>(); // what the store holds per client_msg_id
let lookups = 0;
const { transport, push } = scriptedController(CH, () => [A], {
  lookupClientMessage: (req) => {
    lookups++;
    const s = stored.get(req.clientMsgId);
    return s ? { found: true, id: s.id, seq: BigInt(s.seq), ts: s.ts } : { found: false };
  },
});
const appended: { id: string; seq: number; cmid: string }[] = [];
let seq = 100;
const countingLog: MessageLog = {
  append: async (records: LogRecord[]) =>
    records.map((r) => {
      const e = JSON.parse(r.value);
      appended.push({ id: e.id, seq: ++seq, cmid: e.client_msg_id });
      return seq;
    }),
  consume: async () => {},
  ping: async () => {},
  close: async () => {},
};
const appendsOf = (cmid: string) => appended.filter((a) => a.cmid === cmid);
const appendOf = async (cmid: string) => {
  while (!appendsOf(cmid).length) await Bun.sleep(2);
  return appendsOf(cmid)[0]!;
};
const send = (s: TestSocket, cmid: string) => s.ws.send(JSON.stringify({ channel_id: CH, to: "*", type: "text", data: cmid, client_msg_id: cmid }));
const answers = (s: TestSocket, cmid: string) => s.frames.filter((f) => f.client_msg_id === cmid);
const nth = async (s: TestSocket, cmid: string, n: number) => {
  while (answers(s, cmid).length < n) await Bun.sleep(2);
  return answers(s, cmid)[n - 1];
};
const original = (n: number): AckInfo => ({ id: n.toString(16).padStart(24, "0"), seq: n, ts: "2026-11-29T00:00:00.000Z" });

describe("a relay whose streams tell the verdicts", () => {
  // Store reads only once a verdict is overdue by a minute: whatever is acked here came from the streams.
  let relay: Awaited<ReturnType<typeof serveRelay>>;
  beforeAll(async () => {
    relay = await serveRelay("verdict-stream", transport, countingLog, {}, { verifier: { firstCheckMs: 60_000 }, verdictWaitMs: 10_000 });
  });
  afterAll(() => relay.stop());

  test("its own message coming back acks it, without a store read", async () => {
    const s = await relay.open(A);
    const before = lookups;
    send(s, "fresh-1");
    const mine = await appendOf("fresh-1");
    push([message(CH, mine.id, mine.seq)]);
    expect(await nth(s, "fresh-1", 1)).toMatchObject({ event: "ack", id: mine.id, seq: mine.seq });
    expect(lookups).toBe(before);
    s.ws.close();
  });

  test("a key stored earlier (the resend after a lost ack): the channel passing the append, then one read, give the original ack", async () => {
    const s = await relay.open(A);
    stored.set("resent-1", original(7));
    const before = lookups;
    send(s, "resent-1");
    const dup = await appendOf("resent-1");
    push([message(CH, "f".repeat(24), dup.seq + 1)]); // the controller dropped ours: a later entry comes back without it
    expect(await nth(s, "resent-1", 1)).toMatchObject({ event: "ack", id: original(7).id, seq: 7 });
    expect(lookups).toBe(before + 1);
    // And again on this relay: the verdict is remembered, no read, no append.
    send(s, "resent-1");
    expect(await nth(s, "resent-1", 2)).toMatchObject({ event: "ack", id: original(7).id });
    expect(lookups).toBe(before + 1);
    expect(appendsOf("resent-1").length).toBe(1);
    s.ws.close();
  });
});

describe("a relay whose streams say nothing (a quiet channel, a partition without a consumer)", () => {
  let relay: Awaited<ReturnType<typeof serveRelay>>;
  beforeAll(async () => {
    relay = await serveRelay("verdict-quiet", transport, countingLog, {}, { verifier: { firstCheckMs: 20, maxCheckMs: 100, giveUpMs: 1500, sparePerSec: 1000 }, verdictWaitMs: 300 });
  });
  afterAll(() => relay.stop());

  test("a key stored earlier in a quiet channel is found by a read", async () => {
    const s = await relay.open(A);
    stored.set("quiet-1", original(9));
    send(s, "quiet-1");
    expect(await nth(s, "quiet-1", 1)).toMatchObject({ event: "ack", id: original(9).id });
    s.ws.close();
  });

  test("a stalled partition: unavailable in time, resends wait for the same append, and the late verdict is the original ack", async () => {
    const s = await relay.open(A);
    send(s, "stalled-1");
    expect(await nth(s, "stalled-1", 1)).toMatchObject({ event: "error", code: "unavailable" });
    const first = appendsOf("stalled-1")[0]!;
    send(s, "stalled-1"); // the client resends: it joins the verdict, no second append
    expect(await nth(s, "stalled-1", 2)).toMatchObject({ event: "error", code: "unavailable" });
    expect(appendsOf("stalled-1").length).toBe(1);
    // The partition moves to a live controller, which stores and publishes ours.
    push([message(CH, first.id, first.seq)]);
    await Bun.sleep(20);
    send(s, "stalled-1");
    expect(await nth(s, "stalled-1", 3)).toMatchObject({ event: "ack", id: first.id, seq: first.seq });
    expect(appendsOf("stalled-1").length).toBe(1);
    s.ws.close();
  });

  test("a verdict unknown after giveUpMs fails: the key turns suspect and its next resend is appended and checked again", async () => {
    const s = await relay.open(A);
    send(s, "lost-1");
    expect(await nth(s, "lost-1", 1)).toMatchObject({ event: "error", code: "unavailable" });
    await Bun.sleep(1600); // past giveUpMs
    stored.set("lost-1", original(11)); // meanwhile another attempt's message was stored under the key
    send(s, "lost-1");
    expect(await nth(s, "lost-1", 2)).toMatchObject({ event: "ack", id: original(11).id });
    expect(appendsOf("lost-1").length).toBe(2);
    s.ws.close();
  });
});

describe("a relay whose log is slow", () => {
  let relay: Awaited<ReturnType<typeof serveRelay>>;
  const slowLog: MessageLog = { ...countingLog, append: (records) => Bun.sleep(300).then(() => countingLog.append(records)) };
  beforeAll(async () => {
    relay = await serveRelay("verdict-slow-log", transport, slowLog, { DEDUPE_RECONNECT_SEC: "0" }, { verdictWaitMs: 100 });
  });
  afterAll(() => relay.stop());

  test("a send without client_msg_id waits for its append, however long: told `unavailable`, a resend would be a second message", async () => {
    const s = await relay.open(A);
    s.ws.send(JSON.stringify({ channel_id: CH, to: "*", type: "text", data: "keyless" }));
    s.ws.send(JSON.stringify({ channel_id: CH, to: "*", type: "text", data: "keyed", client_msg_id: "slow-1" }));
    expect(await nth(s, "slow-1", 1)).toMatchObject({ event: "error", code: "unavailable" }); // keyed: a resend joins the append
    const answer = await s.waitFor((f) => (f.event === "ack" || f.event === "error") && f.client_msg_id === undefined);
    expect(answer.event).toBe("ack");
    const first = await appendOf("slow-1");
    s.ws.send(JSON.stringify({ channel_id: CH, to: "*", type: "text", data: "keyed", client_msg_id: "slow-1" }));
    expect(await nth(s, "slow-1", 2)).toMatchObject({ event: "ack", id: first.id });
    expect(appendsOf("slow-1").length).toBe(1);
    s.ws.close();
  });
});
