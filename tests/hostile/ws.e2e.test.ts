// Hostile WebSocket frames (PROTOCOL §3, §7, §8, §11): each gets its documented error frame (or, for fields
// the server never reads, an ack with server-stamped values), the socket stays open, and nothing reaches anyone:
// a listening member receives nothing but the barrier message the sender sends after each case.
// Documented closes are separate (1009 above 64 KiB, 1007 for invalid UTF-8 in a text frame); the 21st socket,
// frames flooding the bucket when malformed, and the token lifetime closes (4001/4003) are in tests/abuse.e2e.test.ts.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { signDevToken } from "@chat/common/auth";
import { USER_IDS } from "@chat/common/grammar-samples";
import { objectId } from "@chat/common/ids";
import { api, Client, createTeam, stored, uniqueUser, type Frame } from "../harness";
import { useTarget } from "../target";
import { Pacer, rawWebSocket, signingSecret, table } from "./corpus";

setDefaultTimeout(60_000);
const t = useTarget();

type Expected = { error: "invalid_message" | "forbidden" | "not_found" | "too_large"; echo: boolean } | { ack: true };
interface Case {
  name: string;
  /** The frame: a string or bytes as sent, or an object sent as JSON; a function gets the fixture. */
  frame: string | Uint8Array | Record<string, unknown> | ((f: Fixture) => string | Uint8Array | Record<string, unknown>);
  expect: Expected;
}
interface Fixture {
  team: string;
  other: string;
  inactive: string;
  a: string;
  b: string;
  c: string;
}

const CMID = "hostile-1";
const invalid = { error: "invalid_message", echo: true } as const;
const invalidNoEcho = { error: "invalid_message", echo: false } as const;
const ok = { ack: true } as const;
const NOT_VALUES: [string, unknown][] = [
  ["null", null],
  ["0", 0],
  ["5", 5],
  ["-1", -1],
  ["1.5", 1.5],
  ["true", true],
  ["false", false],
  ["[]", []],
  ['["x"]', ["x"]],
  ["{}", {}],
  ['{"$ne":null}', { $ne: null }],
  ['""', ""],
];

/** A valid send with one field replaced (undefined removes it). */
const send = (f: Fixture, patch: Record<string, unknown> = {}): Record<string, unknown> => {
  const frame: Record<string, unknown> = { channel_id: f.team, to: "*", type: "text", data: "hostile", client_msg_id: CMID, ...patch };
  for (const k of Object.keys(frame)) if (frame[k] === undefined) delete frame[k];
  return frame;
};
const deep = (levels: number, open: string, close: string, inner = "0") => open.repeat(levels) + inner + close.repeat(levels);

const CASES: Case[] = [
  // Every field of a send, with every wrong type.
  ...["channel_id", "to", "type", "data"].flatMap((field) =>
    NOT_VALUES.map(([label, v]): Case => ({ name: `${field} = ${label}`, frame: (f) => send(f, { [field]: v }), expect: invalid })),
  ),
  ...["channel_id", "to", "type", "data"].map((field): Case => ({ name: `${field} missing`, frame: (f) => send(f, { [field]: undefined }), expect: invalid })),
  // client_msg_id: wrong type, too long, not printable ASCII; never echoed.
  ...[...NOT_VALUES, ["65 characters", "x".repeat(65)], ["é", "é"], ["a space", "a b"], ["NUL", "a\u0000"], ["emoji", "😀"], ["tab", "a\tb"], ["zero-width", "a\u200b"]].map(
    ([label, v]): Case => ({ name: `client_msg_id = ${label}`, frame: (f) => send(f, { client_msg_id: v }), expect: invalidNoEcho }),
  ),
  // Unknown ops, prototype names included.
  ...(["nope", "__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "REFRESH", "refresh ", "send", "", 5, null, true, [], {}] as unknown[]).map(
    (op): Case => ({ name: `op = ${JSON.stringify(op)}`, frame: { op, client_msg_id: CMID }, expect: invalid }),
  ),
  // Refresh with a garbage or foreign token: forbidden, and the socket stays open; no token at all: invalid.
  ...([
    ["garbage", "garbage"],
    ["empty", ""],
    ["three empty parts", ".."],
    ["9000 characters", "a".repeat(9000)],
  ] as const).map(([label, token]): Case => ({ name: `refresh with a ${label} token`, frame: { op: "refresh", token, client_msg_id: CMID }, expect: { error: "forbidden", echo: true } })),
  ...([null, 5, {}, ["x"]] as unknown[]).map((token): Case => ({ name: `refresh with token = ${JSON.stringify(token)}`, frame: { op: "refresh", token, client_msg_id: CMID }, expect: invalid })),
  { name: "refresh without a token", frame: { op: "refresh", client_msg_id: CMID }, expect: invalid },
  // `to`: every user id the grammar refuses ("*" is the broadcast), and members of no such team.
  ...USER_IDS.invalid
    .filter((v) => v !== "*")
    .map((v): Case => ({ name: `to = ${JSON.stringify(v).slice(0, 40)}`, frame: (f) => send(f, { to: v }), expect: invalid })),
  { name: "to a user of no team", frame: (f) => send(f, { to: "stranger@x.dev" }), expect: { error: "not_found", echo: true } },
  { name: "to a member of another team", frame: (f) => send(f, { to: f.c }), expect: { error: "not_found", echo: true } },
  // channel_id: malformed, another team's, unknown, inactive.
  ...([
    ["upper case", (f: Fixture) => f.team.toUpperCase()],
    ["23 characters", (f: Fixture) => f.team.slice(1)],
    ["25 characters", (f: Fixture) => f.team + "0"],
    ["with a space", (f: Fixture) => f.team + " "],
    ["an attachment id", (f: Fixture) => `${f.team}/${objectId()}`],
  ] as const).map(([label, id]): Case => ({ name: `channel_id ${label}`, frame: (f) => send(f, { channel_id: id(f) }), expect: invalid })),
  { name: "channel_id of another team", frame: (f) => send(f, { channel_id: f.other }), expect: { error: "forbidden", echo: true } },
  { name: "channel_id of no team", frame: (f) => send(f, { channel_id: objectId() }), expect: { error: "forbidden", echo: true } },
  { name: "channel_id of an inactive team", frame: (f) => send(f, { channel_id: f.inactive }), expect: { error: "forbidden", echo: true } },
  // type and data.
  ...["TEXT", "text ", "sticker", "__proto__", "constructor"].map((type): Case => ({ name: `type = ${JSON.stringify(type)}`, frame: (f) => send(f, { type }), expect: invalid })),
  { name: "text of 4,001 characters", frame: (f) => send(f, { data: "x".repeat(4001) }), expect: { error: "too_large", echo: true } },
  { name: "text of 4,001 emoji (8,002 UTF-16 units)", frame: (f) => send(f, { data: "😀".repeat(4001) }), expect: { error: "too_large", echo: true } },
  { name: "text with a lone high surrogate", frame: (f) => `{"channel_id":"${f.team}","to":"*","type":"text","data":"a\\ud800b","client_msg_id":"${CMID}"}`, expect: invalid },
  { name: "text with a lone low surrogate", frame: (f) => `{"channel_id":"${f.team}","to":"*","type":"text","data":"\\udc00","client_msg_id":"${CMID}"}`, expect: invalid },
  { name: "image whose data is text", frame: (f) => send(f, { type: "image", data: "hello" }), expect: invalid },
  { name: "image: an attachment of another team", frame: (f) => send(f, { type: "image", data: `${f.other}/${objectId()}` }), expect: invalid },
  { name: "file: attachment id in upper case", frame: (f) => send(f, { type: "file", data: `${f.team}/${objectId()}`.toUpperCase() }), expect: invalid },
  { name: "video: attachment id with a path", frame: (f) => send(f, { type: "video", data: `${f.team}/../${objectId()}` }), expect: invalid },
  { name: "audio: attachment id with a suffix", frame: (f) => send(f, { type: "audio", data: `${f.team}/${objectId()}/x` }), expect: invalid },
  { name: "image: the team id alone", frame: (f) => send(f, { type: "image", data: f.team }), expect: invalid },
  // Not a JSON object.
  ...(["{", "", " ", "null", "[]", "[1,2]", '"str"', "5", "true", "{}", '{"a":1', '{"a":1}x', "\ufeff{}", "{'a':1}", "{a:1}", "NaN", '{"a":1e400}'] as const).map(
    (raw): Case => ({ name: `frame ${JSON.stringify(raw)}`, frame: raw, expect: invalidNoEcho }),
  ),
  { name: "arrays nested 5,000 deep", frame: deep(5000, "[", "]"), expect: invalidNoEcho },
  { name: "objects nested 2,000 deep", frame: deep(2000, '{"a":', "}"), expect: invalidNoEcho },
  { name: "channel_id as an array of 5,000 items", frame: (f) => `{"channel_id":[${Array(5000).fill("0").join(",")}],"client_msg_id":"${CMID}"}`, expect: invalid },
  { name: "data as an object nested 1,000 deep", frame: (f) => `{"channel_id":"${f.team}","to":"*","type":"text","client_msg_id":"${CMID}","data":${deep(1000, '{"a":', "}", '"x"')}}`, expect: invalid },
  // Binary frames are never read.
  { name: "binary frame", frame: new Uint8Array([1, 2, 3]), expect: invalidNoEcho },
  { name: "empty binary frame", frame: new Uint8Array(0), expect: invalidNoEcho },
  { name: "a valid send as a binary frame", frame: (f) => new TextEncoder().encode(JSON.stringify(send(f))), expect: invalidNoEcho },
  // Over the frame limit (16 KiB) but under the WebSocket layer's (64 KiB): too_large, the frame is not read.
  { name: "frame of 16,385 bytes", frame: (f) => JSON.stringify(send(f, { data: "x" })).replace('"x"', `"${"x".repeat(16385 - JSON.stringify(send(f, { data: "" })).length)}"`), expect: { error: "too_large", echo: false } },
  { name: "frame of 60 KiB", frame: (f) => JSON.stringify(send(f, { data: "y".repeat(60 * 1024) })), expect: { error: "too_large", echo: false } },
  // Fields the server sets are dropped, never forwarded; unknown keys, prototype names included, likewise.
  { name: "spoofed from, ts, id, seq, event", frame: (f) => send(f, { from: f.c, ts: "1970-01-01T00:00:00.000Z", id: "000000000000000000000000", seq: 1, event: "message" }), expect: ok },
  { name: "spoofed by, user, reply_to, edited_at", frame: (f) => send(f, { by: f.c, user: f.c, edited_at: "1970-01-01T00:00:00.000Z" }), expect: ok },
  { name: "__proto__ key", frame: (f) => `{"__proto__":{"from":"${f.c}","admin":true},${JSON.stringify(send(f)).slice(1)}`, expect: ok },
  { name: "constructor.prototype key", frame: (f) => ({ constructor: { prototype: { from: f.c } }, ...send(f) }), expect: ok },
  { name: "1,000 unknown keys", frame: (f) => ({ ...Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i])), ...send(f) }), expect: ok },
];

let fx: Fixture;
let sender: Client;
let listener: Client;
const pace = new Pacer(16, 30); // the socket's bucket is 20/s, burst 40; every case sends two frames
let barriers = 0;
let lastBarrier = "";
let cases = 0;
let accepted = 0;

/** The sender sends a normal message; both sockets must see it with nothing else of the corpus before it. */
async function barrier(): Promise<void> {
  const data = `barrier-${++barriers}`;
  await pace.take();
  sender.send({ channel_id: fx.team, to: "*", type: "text", data, client_msg_id: `b-${barriers}` });
  await listener.next((f) => f.event === "message" && f.data === data);
  lastBarrier = (await sender.find((f) => f.event === "ack" && f.client_msg_id === `b-${barriers}`)).id;
}

beforeAll(async () => {
  const [a, b, c] = [uniqueUser("a"), uniqueUser("b"), uniqueUser("c")];
  fx = { a, b, c, team: await createTeam(t, a, [b]), other: await createTeam(t, c), inactive: await createTeam(t, a, [b]) };
  expect((await api(t, "DELETE", `/v1/teams/${fx.inactive}`, await t.token(a))).status).toBe(200);
  [sender, listener] = await Promise.all([Client.connect(t, await t.token(a)), Client.connect(t, await t.token(b))]);
  await barrier();
});
afterAll(async () => {
  await sender?.close();
  await listener?.close();
});

describe("hostile frames", () => {
  table("frame", CASES, async (c) => {
    const frame = typeof c.frame === "function" ? c.frame(fx) : c.frame;
    // Each case its own client_msg_id: a repeated one would be answered from the dedupe memory.
    const cmid = `hostile-${++cases}`;
    const seenBySender = sender.frames.length;
    const seenByListener = listener.frames.length;
    await pace.take();
    if (frame instanceof Uint8Array) sender.ws.send(frame);
    else sender.send((typeof frame === "string" ? frame : JSON.stringify(frame)).replaceAll(`"${CMID}"`, `"${cmid}"`));
    const answer = await sender.next((f) => f.event === "error" || (f.event === "ack" && f.client_msg_id === cmid));
    if ("ack" in c.expect) {
      accepted++;
      expect(answer.event).toBe("ack");
      // Delivered as the server stamped it: from the token, the server's id, ts and seq, only the protocol's fields.
      const got = await listener.next((f) => f.event === "message" && f.id === answer.id);
      expect(Object.keys(got).sort()).toEqual(["channel_id", "client_msg_id", "data", "event", "from", "id", "seq", "to", "ts", "type"]);
      expect([got.from, got.seq, got.ts, got.data]).toEqual([fx.a, answer.seq, answer.ts, "hostile"]);
      expect(Date.now() - Date.parse(got.ts)).toBeLessThan(60_000);
    } else {
      expect({ event: answer.event, code: answer.code, echo: answer.client_msg_id }).toEqual({
        event: "error",
        code: c.expect.error,
        echo: c.expect.echo ? cmid : undefined,
      });
      expect(typeof answer.message).toBe("string");
    }
    await barrier();
    // Nothing of the case reached the listener (other than an accepted message), and the sender got one answer.
    // Presence frames are background traffic of other sockets coming and going, not the case's doing.
    const toListener = listener.frames.slice(seenByListener).filter((f) => f.event !== "presence" && !(f.event === "message" && f.data.startsWith("barrier-")));
    expect(toListener.map((f: Frame) => f.event)).toEqual("ack" in c.expect ? ["message"] : []);
    const toSender = sender.frames.slice(seenBySender).filter((f) => f.event !== "presence" && !(f.client_msg_id ?? "").startsWith("b-") && !(f.data ?? "").startsWith("barrier-"));
    expect(toSender.filter((f: Frame) => f.event === "error" || f.event === "ack").length).toBe(1);
    expect(sender.closed).toBeUndefined();
  });
});

describe("documented closes, on sockets of their own", () => {
  test("a frame over 64 KiB closes the socket with 1009 and reaches nobody", async () => {
    const own = await Client.connect(t, await t.token(fx.a));
    const seen = listener.frames.length;
    own.send(JSON.stringify({ channel_id: fx.team, to: "*", type: "text", data: "z".repeat(70 * 1024) }));
    expect((await own.waitClosed()).code).toBe(1009);
    await barrier();
    expect(listener.frames.slice(seen).filter((f) => f.event === "message" && !f.data.startsWith("barrier-"))).toEqual([]);
  });

  test("invalid UTF-8 in a text frame fails the connection (1007, RFC 6455 §8.1) and reaches nobody", async () => {
    const raw = await rawWebSocket(t, await t.token(fx.a));
    const seen = listener.frames.length;
    const head = new TextEncoder().encode(`{"channel_id":"${fx.team}","to":"*","type":"text","data":"`);
    raw.send(0x1, new Uint8Array([...head, 0xff, 0xfe, 0xc3, 0x28, ...new TextEncoder().encode('"}')]));
    expect(await raw.closed).toBe(1007);
    await barrier();
    expect(listener.frames.slice(seen).filter((f) => f.event === "message" && !f.data.startsWith("barrier-"))).toEqual([]);
  });

  test("a flood of valid sends past the burst: the excess is rate_limited and never delivered", async () => {
    const own = await Client.connect(t, await t.token(fx.a));
    const seen = listener.frames.length;
    for (let i = 0; i < 60; i++) own.send({ channel_id: fx.team, to: "*", type: "text", data: `flood-${i}`, client_msg_id: `f-${i}` });
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => own.find((f) => f.client_msg_id === `f-${i}` && (f.event === "ack" || f.event === "error"))));
    const acked = answers.filter((f) => f.event === "ack").map((f) => f.id);
    expect(answers.filter((f) => f.event === "error").map((f) => f.code)).toEqual(Array(60 - acked.length).fill("rate_limited"));
    expect(acked.length).toBeGreaterThanOrEqual(40);
    expect(acked.length).toBeLessThan(60);
    await barrier();
    const delivered = listener.frames.slice(seen).filter((f) => f.event === "message" && f.data.startsWith("flood-"));
    expect(delivered.map((f) => f.id).sort()).toEqual(acked.sort());
    accepted += acked.length;
    await own.close();
  });
});

describe("after the corpus", () => {
  test("history holds the barriers and the accepted sends only; the server is healthy and a normal send works", async () => {
    const token = await t.token(fx.a);
    await stored(t, fx.team, token, lastBarrier); // history may lag live delivery by one store write
    const seen: Frame[] = [];
    for (let before: number | null = null; ; ) {
      const page = await api(t, "GET", `/v1/teams/${fx.team}/messages?limit=100${before ? `&before=${before}` : ""}`, token);
      expect(page.status).toBe(200);
      seen.push(...page.body.data);
      if (page.body.next === null) break;
      before = page.body.next;
    }
    expect(seen.length).toBe(barriers + accepted);
    expect(seen.every((m) => m.from === fx.a && (m.data.startsWith("barrier-") || m.data === "hostile" || m.data.startsWith("flood-")))).toBe(true);
    expect((await api(t, "GET", `/v1/teams/${fx.other}/messages`, await t.token(fx.c))).body.data).toEqual([]);
    expect((await api(t, "GET", "/v1/health")).status).toBe(200);
    await barrier();
    expect(sender.closed).toBeUndefined();
    // A token signed right still works after all the refused ones.
    const fresh = await Client.connect(t, await signDevToken(signingSecret(), fx.b));
    await fresh.close();
  });
});
