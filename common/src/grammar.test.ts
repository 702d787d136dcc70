import { describe, expect, test } from "bun:test";
import Value from "typebox/value";
import {
  codePointsWithin,
  isAttachmentId,
  isAttachmentIdOf,
  isClientMsgId,
  isIcon,
  isMetaTag,
  isObjectId,
  isSearchText,
  isTeamName,
  isUserId,
  parseDecimal,
  rules,
  typeboxSchema,
} from "./grammar";
import { NOT_STRINGS, USER_IDS } from "./grammar-samples";

const A = "507f191e810c19729de860ea";
const B = "6b06d90e68a988520eac2a79";

describe("user ids", () => {
  test.each(USER_IDS.valid.map((v) => [v]))("accepts %p", (v) => expect(isUserId(v)).toBe(true));
  test.each(USER_IDS.invalid.map((v) => [v]))("refuses %p", (v) => expect(isUserId(v)).toBe(false));
  test("refuses anything not a string", () => {
    for (const v of NOT_STRINGS) expect(isUserId(v)).toBe(false);
  });
});

test("object ids: 24 lowercase hex only", () => {
  expect(isObjectId(A)).toBe(true);
  for (const v of ["", A.toUpperCase(), A.slice(1), A + "0", `${A.slice(0, 23)}g`, ` ${A.slice(1)}`, `${A}\n`, ...NOT_STRINGS]) expect(isObjectId(v)).toBe(false);
});

test("attachment ids: <team>/<id>, and of the given team", () => {
  expect(isAttachmentId(`${A}/${B}`)).toBe(true);
  expect(isAttachmentIdOf(A, `${A}/${B}`)).toBe(true);
  expect(isAttachmentIdOf(B, `${A}/${B}`)).toBe(false);
  for (const v of [A, `${A}/`, `/${A}`, `${A}/${B}/`, `${A}//${B}`, `${A}/../${B}`, `${A}\\${B}`, `${A}/${B.toUpperCase()}`, `${A}/${B}x`, ...NOT_STRINGS])
    expect([v, isAttachmentId(v)]).toEqual([v, false]);
  expect(isAttachmentIdOf("", `/${B}`)).toBe(false);
});

test("client_msg_id: 1-64 printable ASCII", () => {
  for (const v of ["c-1", "x".repeat(64), "!~", '{"$ne":1}']) expect(isClientMsgId(v)).toBe(true);
  for (const v of ["", "x".repeat(65), "a b", "a\u0000", "\u001b", "é", "bob\u200b", ...NOT_STRINGS]) expect(isClientMsgId(v)).toBe(false);
});

test("meta tags: 1-max of [a-z0-9-]", () => {
  for (const v of ["a", "awesome-team", "x".repeat(32), "0-9"]) expect(isMetaTag(v, 32)).toBe(true);
  for (const v of ["", "x".repeat(33), "Upper", "a b", "a_b", "a.b", "..", "*", "é", "a\u200b", '{"$ne":1}', ...NOT_STRINGS]) expect(isMetaTag(v, 32)).toBe(false);
  expect(isMetaTag("abcdef", 5)).toBe(false);
});

test("team names: 1-max characters, no control or format characters, not only whitespace", () => {
  for (const v of ["Test Team Name", "a", "  padded  ", "é", "e\u0301", "😀".repeat(100), "x".repeat(100), '{"$ne":1}', "..", "a/b"]) expect([v, isTeamName(v, 100)]).toEqual([v, true]);
  for (const v of ["", " ", "\u3000\u00a0", "x".repeat(101), "😀".repeat(101), "line\nbreak", "a\u0000b", "\u001b[2J", "a\u200bb", "\u202eevil", "\ud800", ...NOT_STRINGS])
    expect([v, isTeamName(v, 100)]).toEqual([v, false]);
  expect(isTeamName("abcdef", 5)).toBe(false);
});

test("icons: empty or an absolute https URL the WHATWG parser accepts, no markup characters", () => {
  for (const v of ["", "https://x.dev/i.png", "https://cdn.example.com/a/b.png?size=64&v=2#x", "https://[::1]:8443/i.png", "https://例子.中国/i.png", "https://x.dev/it's.png", `https://x.dev/${"a".repeat(2048 - 14)}`])
    expect([v, isIcon(v)]).toEqual([v, true]);
  for (const v of [
    'https://"><img/src=x/onerror=alert(1)>',
    'https://x.dev/"><img src=x onerror=alert(1)>',
    "https://x.dev/a b.png",
    "https://x.dev/a\nb",
    "https://x.dev/\u202egnp.exe",
    "https://x.dev\\@evil.com/",
    "https://x.dev/{a}",
    "https://x.dev/`",
    "http://x.dev/i.png",
    "HTTPS://x.dev/i.png",
    "https:x.dev/i.png",
    "https:///i.png",
    "https://",
    "https://user:pw@x.dev/i.png",
    "javascript:alert(1)",
    "data:image/png;base64,AAAA",
    "//x.dev/i.png",
    "/i.png",
    "https://x.dev:99999/",
    " https://x.dev/i.png",
    `https://x.dev/${"a".repeat(2048 - 13)}`,
    ...NOT_STRINGS,
  ])
    expect([v, isIcon(v)]).toEqual([v, false]);
});

test("search text: what a team name may hold, whitespace and wildcard characters included; never a control character", () => {
  for (const v of ["a", " ", "%", "_", ".*", "\\d", '{"$ne":null}', "😀".repeat(100)]) expect([v, isSearchText(v, 100)]).toEqual([v, true]);
  for (const v of ["", "\u0000", "a\u0000", "\u001b[2J", "a\u200b", "\u202e", "\ud800", "😀".repeat(101), ...NOT_STRINGS]) expect([v, isSearchText(v, 100)]).toEqual([v, false]);
});

test("parseDecimal: plain decimal digits only, safe integers", () => {
  expect(["0", "5", "05", "100", "9007199254740991"].map(parseDecimal)).toEqual([0, 5, 5, 100, 9007199254740991]);
  for (const v of ["", "0x10", "1e1", "+5", "-1", " 5", "5 ", "1.5", "1_000", "٣", "9007199254740992", "99999999999999999", "Infinity", "NaN"]) expect([v, parseDecimal(v)]).toEqual([v, undefined]);
});

test("codePointsWithin counts code points, not UTF-16 units", () => {
  expect(codePointsWithin("😀😀", 2, 2)).toBe(true);
  expect(codePointsWithin("😀😀", 3, 4)).toBe(false);
  expect(codePointsWithin("😀😀😀", 1, 2)).toBe(false);
  expect(codePointsWithin("\ud800\ud800", 2, 2)).toBe(true); // lone surrogates count one each
  expect(codePointsWithin("", 1, 5)).toBe(false);
  expect(codePointsWithin("", 0, 5)).toBe(true);
});

test("the typebox schema of a rule accepts exactly what its check accepts", () => {
  const cases: [ReturnType<typeof typeboxSchema>, (v: unknown) => boolean, unknown[]][] = [
    [typeboxSchema(rules.userId), isUserId, [...USER_IDS.valid, ...USER_IDS.invalid, ...NOT_STRINGS]],
    [typeboxSchema(rules.teamName(5)), (v) => isTeamName(v, 5), ["abc", "abcdef", "😀😀😀😀😀", "   ", "a\u200b"]],
    [typeboxSchema(rules.icon), isIcon, ["", "https://x.dev/i.png", "http://x.dev/", 'https://"><img>']],
    [typeboxSchema(rules.searchText(5)), (v) => isSearchText(v, 5), ["a", " ", "%", ".*", "abcdef", "😀😀😀😀😀", "", "a\u0000", "\u0000", "a\u200b", "\ud800", ...NOT_STRINGS]],
  ];
  for (const [schema, check, values] of cases) for (const v of values) expect([v, Value.Check(schema, v)]).toEqual([v, check(v)]);
});
