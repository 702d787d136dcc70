import { describe, expect, test } from "bun:test";
import { parseOutgoing } from "./parse";
import { AppError } from "@chat/common/errors";
import { USER_IDS } from "@chat/common/grammar-samples";

const ch = "507f191e810c19729de860ea";
const limits = { textChars: 10 };
const parse = (o: unknown) => parseOutgoing(JSON.stringify(o), limits);
const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as AppError).code;
  }
  return "ok";
};

describe("parseOutgoing", () => {
  test("accepts a valid text message and drops spoofed fields", () => {
    const m = parse({ channel_id: ch, to: "*", type: "text", data: "hi", from: "evil", ts: "1999", id: "x", client_msg_id: "c-1" });
    expect(m).toEqual({ channel_id: ch, to: "*", type: "text", data: "hi", client_msg_id: "c-1" });
  });
  test("refuses bad structure and types", () => {
    expect(code(() => parseOutgoing("{nope", limits))).toBe("invalid_message");
    expect(code(() => parseOutgoing("[1]", limits))).toBe("invalid_message");
    expect(code(() => parse({ channel_id: { $ne: 1 }, to: "*", type: "text", data: "x" }))).toBe("invalid_message");
    expect(code(() => parse({ channel_id: ch, to: "a b", type: "text", data: "x" }))).toBe("invalid_message");
    expect(code(() => parse({ channel_id: ch, to: "*", type: "gif", data: "x" }))).toBe("invalid_message");
    expect(code(() => parse({ channel_id: ch, to: "*", type: "text", data: 5 }))).toBe("invalid_message");
    expect(code(() => parse({ channel_id: ch, to: "*", type: "text", data: "" }))).toBe("invalid_message");
    expect(code(() => parse({ channel_id: ch, to: "*", type: "text", data: "x", client_msg_id: "" }))).toBe("invalid_message");
    expect(code(() => parse({ channel_id: ch, to: "*", type: "text", data: "x", client_msg_id: "x".repeat(65) }))).toBe("invalid_message");
  });
  test("text length counts characters, not UTF-16 units", () => {
    expect(parse({ channel_id: ch, to: "*", type: "text", data: "😀".repeat(10) }).data).toBe("😀".repeat(10));
    expect(code(() => parse({ channel_id: ch, to: "*", type: "text", data: "x".repeat(11) }))).toBe("too_large");
  });
  test("lone surrogates are refused", () => {
    expect(code(() => parseOutgoing(`{"channel_id":"${ch}","to":"*","type":"text","data":"\\ud800"}`, limits))).toBe("invalid_message");
  });
  test("attachments must belong to the same team", () => {
    const other = "507f191e810c19729de860eb";
    expect(parse({ channel_id: ch, to: "*", type: "image", data: `${ch}/${other}` }).type).toBe("image");
    expect(code(() => parse({ channel_id: ch, to: "*", type: "image", data: `${other}/${ch}` }))).toBe("invalid_message");
    expect(code(() => parse({ channel_id: ch, to: "*", type: "file", data: "hello" }))).toBe("invalid_message");
  });
});

test("`to` is \"*\" or a user id of the common grammar, and nothing else", () => {
  for (const to of ["*", ...USER_IDS.valid]) expect(parse({ channel_id: ch, to, type: "text", data: "x" }).to).toBe(to);
  for (const to of [...USER_IDS.invalid.filter((v) => v !== "*"), 5, null, { $ne: 1 }]) expect(code(() => parse({ channel_id: ch, to, type: "text", data: "x" }))).toBe("invalid_message");
});

test("a send may carry reply_to (a message id), and nothing else there", () => {
  const reply = parseOutgoing(JSON.stringify({ channel_id: ch, to: "*", type: "text", data: "re", reply_to: "b".repeat(24) }), { textChars: 10 });
  expect(reply.reply_to).toBe("b".repeat(24));
  expect(() => parseOutgoing(JSON.stringify({ channel_id: ch, to: "*", type: "text", data: "re", reply_to: { $ne: 1 } }), { textChars: 10 })).toThrow();
});
