// Property tests of the relay's frame parser: whatever a client sends, parseFrameObject, clientMsgIdOf and
// parseSend answer a documented refusal (an AppError invalid_message or too_large) or a send that every
// grammar accepts — never another exception, never a value the grammars refuse, never a field not read.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { AppError } from "@chat/common/errors";
import { USER_IDS } from "@chat/common/grammar-samples";
import { isAttachmentIdOf, isClientMsgId, isObjectId, isUserId } from "@chat/common/grammar";
import { MESSAGE_TYPES } from "@chat/common/message";
import { clientMsgIdOf, parseFrameObject, parseSend } from "./parse";

const RUNS = { seed: 20261129, numRuns: 2000 };
const LIMITS = { textChars: 40 };
const TEAM = "6b0c3c942efa29a8ae9e64ec";
const OTHER = "6b0c3c942efa29a8ae9e64ed";
const ID = "6b0c3cb52efa29a8ae9e651c";

type Verdict = { ok: true; value: unknown } | { ok: false; code: string };

/** The whole path of a frame through the parser, as the relay runs it; anything but an AppError escapes. */
function run(raw: string): Verdict {
  try {
    const o = parseFrameObject(raw);
    const cmid = clientMsgIdOf(o);
    if (o.op !== undefined) return { ok: true, value: { op: o.op, cmid } };
    return { ok: true, value: parseSend(o, LIMITS, cmid) };
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { ok: false, code: err.code };
  }
}

function expectDocumented(raw: string): void {
  const v = run(raw);
  if (!v.ok) {
    expect(["invalid_message", "too_large"]).toContain(v.code);
    return;
  }
  const value = v.value as Record<string, unknown>;
  if ("op" in value) {
    expect(value.cmid === undefined || isClientMsgId(value.cmid)).toBe(true);
    return;
  }
  // A send that passed: only the protocol's fields, each as its grammar says.
  expect(Object.keys(value).every((k) => ["channel_id", "to", "type", "data", "client_msg_id"].includes(k))).toBe(true);
  expect(isObjectId(value.channel_id)).toBe(true);
  expect(value.to === "*" || isUserId(value.to)).toBe(true);
  expect(MESSAGE_TYPES).toContain(value.type as (typeof MESSAGE_TYPES)[number]);
  const data = value.data as string;
  expect(typeof data === "string" && data.length > 0 && data.isWellFormed()).toBe(true);
  if (value.type === "text") expect([...data].length).toBeLessThanOrEqual(LIMITS.textChars);
  else expect(isAttachmentIdOf(value.channel_id as string, data)).toBe(true);
  expect(value.client_msg_id === undefined || isClientMsgId(value.client_msg_id)).toBe(true);
}

// Values a hostile client puts in a field: right and wrong types, grammar edge cases, prototype names.
const anyValue = fc.oneof(
  fc.constantFrom<unknown>("*", TEAM, OTHER, `${TEAM}/${ID}`, `${OTHER}/${ID}`, "", ".", "..", "__proto__", "constructor", ...MESSAGE_TYPES, ...USER_IDS.valid, ...USER_IDS.invalid),
  fc.string({ maxLength: 60 }),
  fc.string({ unit: "binary", maxLength: 60 }),
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom<unknown>(null, true, 0, -1, 1.5, 1e308, [], {}, { $ne: null }),
);
const FIELDS = ["channel_id", "to", "type", "data", "client_msg_id", "op", "from", "ts", "id", "seq", "__proto__", "constructor", "token"];

/** Frames near a valid send: each field kept, dropped or replaced. */
const nearSend = fc.record(
  Object.fromEntries(FIELDS.map((f) => [f, fc.option(anyValue, { nil: undefined, freq: 2 })])) as Record<string, fc.Arbitrary<unknown>>,
  { requiredKeys: [] },
).map((patch) => {
  const base: Record<string, unknown> = { channel_id: TEAM, to: "*", type: "text", data: "hello", client_msg_id: "c-1" };
  for (const [k, v] of Object.entries(patch)) if (v !== undefined) base[k] = v;
  // "__proto__" as a JSON key, not the object's prototype.
  return JSON.stringify(base).replace(/^\{/, "__proto__" in patch && patch.__proto__ !== undefined ? `{"__proto__":${JSON.stringify(patch.__proto__) ?? "null"},` : "{");
});

describe("relay frame parser, fuzzed", () => {
  test("arbitrary text: a documented refusal or a valid result", () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: "binary", maxLength: 200 }), fc.json({ maxDepth: 4 })), (raw) => expectDocumented(raw)), RUNS);
  });

  test("frames near a valid send: every field kept, dropped or replaced by hostile values", () => {
    fc.assert(fc.property(nearSend, (raw) => expectDocumented(raw)), RUNS);
  });

  test("valid sends are accepted as sent, with only the protocol's fields", () => {
    const send = fc.record({
      channel_id: fc.constant(TEAM),
      to: fc.constantFrom("*", ...USER_IDS.valid),
      type: fc.constant("text"),
      data: fc.string({ minLength: 1, maxLength: LIMITS.textChars }).filter((s) => s.isWellFormed()),
      client_msg_id: fc.stringMatching(/^[\x21-\x7e]{1,64}$/),
      from: anyValue,
    });
    fc.assert(
      fc.property(send, (s) => {
        const v = run(JSON.stringify(s));
        expect(v).toEqual({ ok: true, value: { channel_id: s.channel_id, to: s.to, type: s.type, data: s.data, client_msg_id: s.client_msg_id } });
      }),
      { ...RUNS, numRuns: 500 },
    );
  });

  test("deep nesting and long arrays, within a frame's size, never escape as anything but invalid_message", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8000 }), fc.constantFrom("[", '{"a":', '{"channel_id":'), (depth, open) => {
        const close = open === "[" ? "]" : "}";
        expectDocumented(open.repeat(depth) + "0" + close.repeat(depth));
      }),
      { ...RUNS, numRuns: 200 },
    );
  });
});
