// Hostile REST requests (PROTOCOL §4, §7, §8): each gets its documented status and code in the JSON envelope,
// and nothing changes: the team, its members and the caller's teams are compared with a snapshot after each case.
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { USER_IDS } from "@chat/common/grammar-samples";
import { objectId } from "@chat/common/ids";
import { createTeam, uniqueUser } from "../harness";
import { useTarget } from "../target";
import { expectEnvelope, rest, table, type RestCall } from "./corpus";

setDefaultTimeout(60_000);
const t = useTarget();

interface Fixture {
  S: string;
  U: string;
  O: string;
  T: string;
  tokens: Record<"S" | "U" | "O", string>;
}
interface Case {
  name: string;
  method: string;
  path: (f: Fixture) => string;
  /** An object is sent as JSON; a string as is (with `headers`). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Who calls; none = no token. */
  as?: "S" | "U" | "O";
  status: number;
  code: string;
}

let fx: Fixture;
const team = (f: Fixture) => `/v1/teams/${f.T}`;
const routes = {
  create: { method: "POST", path: () => "/v1/teams", valid: { name: "Valid", icon: "https://x.dev/i.png", meta_tags: ["a"] } },
  patch: { method: "PATCH", path: team, valid: { name: "Valid" } },
  members: { method: "POST", path: (f: Fixture) => `${team(f)}/members`, valid: { user_id: "someone@x.dev" } },
  admins: { method: "POST", path: (f: Fixture) => `${team(f)}/admins`, valid: { user_id: "someone@x.dev" } },
  leave: { method: "POST", path: (f: Fixture) => `${team(f)}/leave`, valid: { successor: "someone@x.dev" } },
  attachments: { method: "POST", path: (f: Fixture) => `${team(f)}/attachments`, valid: { type: "image", content_type: "image/png", size: 10, filename: "a.png" } },
} as const;
type Route = keyof typeof routes;

const bad = (route: Route, name: string, patch: Record<string, unknown>, status = 400, code = "validation"): Case => ({
  name: `${routes[route].method} ${route}: ${name}`,
  method: routes[route].method,
  path: routes[route].path,
  body: { ...routes[route].valid, ...patch },
  as: "S",
  status,
  code,
});
const raw = (route: Route, name: string, body: string, headers: Record<string, string> = { "content-type": "application/json" }, status = 400, code = "validation"): Case => ({
  name: `${routes[route].method} ${route}: ${name}`,
  method: routes[route].method,
  path: routes[route].path,
  body,
  headers,
  as: "S",
  status,
  code,
});
const NOT_STRINGS: [string, unknown][] = [
  ["null", null],
  ["5", 5],
  ["true", true],
  ["[]", []],
  ["{}", {}],
  ['{"$ne":null}', { $ne: null }],
];
const get = (name: string, path: (f: Fixture) => string, status = 400, code = "validation", as: Case["as"] = "S"): Case => ({ name, method: "GET", path, as, status, code });

const CASES: Case[] = [
  // Wrong types and grammar in every body field.
  ...NOT_STRINGS.map(([l, v]) => bad("create", `name ${l}`, { name: v })),
  ...["", "   ", "a\u0000b", "\u001b[31mred", "bob\u200bteam", "\u202eevil", "x".repeat(101), "😀".repeat(101)].map((v) => bad("create", `name ${JSON.stringify(v).slice(0, 30)}`, { name: v })),
  ...[5, null, {}, "javascript:alert(1)", 'https://"><img/src=x/onerror=alert(1)>', 'https://x.dev/"><script>alert(1)</script>', "http://x.dev/i.png", "https:///x.dev", "https://u:p@x.dev/", "https://x.dev/a b", "https://x.dev\\@evil.dev/", `https://x.dev/${"a".repeat(2048)}`].map((v) =>
    bad("create", `icon ${JSON.stringify(v).slice(0, 40)}`, { icon: v }),
  ),
  ...[["a string", "a"], ["[5]", [5]], ["[{}]", [{}]], ['["UP"]', ["UP"]], ['[""]', [""]], ["21 tags", Array.from({ length: 21 }, (_, i) => `t${i}`)], ["a zero-width tag", ["a\u200b"]], ["a 33-character tag", ["x".repeat(33)]]].map(
    ([l, v]) => bad("create", `meta_tags ${l}`, { meta_tags: v }),
  ),
  ...NOT_STRINGS.map(([l, v]) => bad("patch", `name ${l}`, { name: v })),
  ...["a\u0000b", "\u202eevil", 'https://"><img/src=x/onerror=alert(1)>'].map((v, i) => bad("patch", `${i < 2 ? "name" : "icon"} ${JSON.stringify(v).slice(0, 30)}`, i < 2 ? { name: v } : { icon: v })),
  ...[...NOT_STRINGS.map(([, v]) => v), ...USER_IDS.invalid].map((v) => bad("members", `user_id ${JSON.stringify(v)?.slice(0, 30)}`, { user_id: v })),
  ...[".", "..", "bob\u200b@x.dev", "\u202eevil", 5].map((v) => bad("admins", `user_id ${JSON.stringify(v)}`, { user_id: v })),
  ...[".", "..", "a/b", 5, null].map((v) => bad("leave", `successor ${JSON.stringify(v)}`, { successor: v })),
  ...[["size \"4\"", { size: "4" }], ["size 1.5", { size: 1.5 }], ["size -1", { size: -1 }], ["size 0", { size: 0 }], ["size null", { size: null }], ["size \"1e3\"", { size: "1e3" }], ["type sticker", { type: "sticker" }], ["type 5", { type: 5 }], ["content_type image", { content_type: "image" }], ["image as text/html", { content_type: "text/html" }], ["content_type with parameters", { content_type: "image/png; charset=x" }], ["filename 5", { filename: 5 }], ["filename empty", { filename: "" }], ["filename of 1,025 characters", { filename: "f".repeat(1025) }]].map(
    ([l, p]) => bad("attachments", l as string, p as Record<string, unknown>),
  ),
  bad("attachments", "size over LIMIT_ATTACHMENT_BYTES", { size: 100 * 1024 * 1024 + 1 }, 413, "too_large"),
  raw("attachments", "size 1e400 (Infinity)", '{"type":"image","content_type":"image/png","size":1e400,"filename":"a.png"}'),
  // Unknown fields, operators and prototype keys, at the top or nested.
  ...(Object.keys(routes) as Route[]).flatMap((r) => [
    bad(r, "an unknown field", { extra: 1 }),
    raw(r, "a __proto__ key", JSON.stringify(routes[r].valid).replace("{", '{"__proto__":{"admin":true},')),
    raw(r, "a constructor key", JSON.stringify(routes[r].valid).replace("{", '{"constructor":{"prototype":{"admin":true}},')),
    raw(r, "not JSON", "{"),
    raw(r, "a JSON array", "[]"),
    raw(r, "JSON null", "null"),
  ]),
  raw("create", "a __proto__ key nested in a value", '{"name":{"__proto__":{"x":1}}}'),
  raw("create", "a constructor key in a tag list", '{"name":"ok","meta_tags":[{"constructor":1}]}'),
  raw("create", "nested 100 deep", `{"name":${"[".repeat(100)}${"]".repeat(100)}}`),
  // Query parameters: no coercion, no repetition, no operators, no control characters.
  ...["limit=0x10", "limit=1e1", "limit=%2B5", "limit=-1", "limit=0", "limit=101", "limit=abc", "limit=1.0", "limit=5&limit=6", "q=a&q=b", "cursor=zz", "tag=UP", "limit[$ne]=1", "q=%00", "q=a%00", "q=%1b", "q=%e2%80%8b", "x=1", "__proto__=1", "constructor=1"].map((q) =>
    get(`GET /v1/teams?${q}`, () => `/v1/teams?${q}`),
  ),
  ...["before=0", "before=-1", "before=1.5", "before=0x10", "limit=0", "limit=101", "before=1&before=2", "thread=x"].map((q) => get(`GET messages?${q}`, (f) => `${team(f)}/messages?${q}`)),
  ...["limit=0", "limit=1001", "limit=0x10", "limit=5&limit=6", "cursor=a%20b", "cursor=%7B%22%24ne%22%3A1%7D", "cursor=..", "x=1"].map((q) => get(`GET members?${q}`, (f) => `${team(f)}/members?${q}`)),
  // Path parameters.
  ...["%E2%80%8Bbob%40x.dev", "%E2%80%AEevil", "a%2Fb", "a%20b", "%7B%22%24ne%22%3A1%7D", "u".repeat(321)].map(
    (v): Case => ({ name: `DELETE members/${v.slice(0, 30)}`, method: "DELETE", path: (f) => `${team(f)}/members/${v}`, as: "S", status: 400, code: "validation" }),
  ),
  ...["507F191E810C19729DE860EA", "507f191e810c19729de860e", "%7B%22%24ne%22%3Anull%7D", "x"].map((id) => get(`GET /v1/teams/${id}`, () => `/v1/teams/${id}`)),
  ...["507F191E810C19729DE860EA", "%7B%22%24ne%22%3Anull%7D"].map((id) => get(`GET /v1/teams/${id}/presence`, () => `/v1/teams/${id}/presence`)),
  get("GET an unknown team", () => `/v1/teams/${objectId()}`, 404, "not_found"),
  get("GET attachment of a malformed id", (f) => `/v1/attachments/${f.T}/..%2F..%2Fetc`, 400, "validation"),
  // Roles: the caller may not do it.
  { name: "an outsider reads the team", method: "GET", path: team, as: "O", status: 403, code: "forbidden" },
  { name: "an outsider deactivates the team", method: "DELETE", path: team, as: "O", status: 403, code: "forbidden" },
  { name: "a member deactivates the team", method: "DELETE", path: team, as: "U", status: 403, code: "forbidden" },
  { name: "a member removes the super_admin", method: "DELETE", path: (f) => `${team(f)}/members/${encodeURIComponent(f.S)}`, as: "U", status: 403, code: "forbidden" },
  { name: "a member elects themself admin", method: "POST", path: (f) => `${team(f)}/admins`, body: "U", as: "U", status: 403, code: "forbidden" },
  { name: "an outsider adds themself", method: "POST", path: (f) => `${team(f)}/members`, body: "O", as: "O", status: 403, code: "forbidden" },
  { name: "an outsider reads the history", method: "GET", path: (f) => `${team(f)}/messages`, as: "O", status: 403, code: "forbidden" },
  { name: "an outsider pages the members", method: "GET", path: (f) => `${team(f)}/members`, as: "O", status: 403, code: "forbidden" },
  { name: "an outsider reads who is online", method: "GET", path: (f) => `${team(f)}/presence`, as: "O", status: 403, code: "forbidden" },
  { name: "an outsider starts an upload", method: "POST", path: (f) => `${team(f)}/attachments`, body: routes.attachments.valid, as: "O", status: 403, code: "forbidden" },
  { name: "the super_admin removes themself", method: "DELETE", path: (f) => `${team(f)}/members/${encodeURIComponent(f.S)}`, as: "S", status: 403, code: "forbidden" },
  { name: "the super_admin leaves without a successor", method: "POST", path: (f) => `${team(f)}/leave`, body: {}, as: "S", status: 409, code: "conflict" },
  // A known path with a method it does not serve.
  ...([
    ["PUT", (f: Fixture) => team(f)],
    ["POST", (f: Fixture) => team(f)],
    ["PUT", () => "/v1/teams"],
    ["DELETE", () => "/v1/teams"],
    ["PATCH", (f: Fixture) => `${team(f)}/members/${encodeURIComponent(f.U)}`],
    ["GET", (f: Fixture) => `${team(f)}/leave`],
    ["DELETE", (f: Fixture) => `${team(f)}/messages`],
    ["OPTIONS", (f: Fixture) => team(f)],
  ] as const).map(([method, path]): Case => ({ name: `${method} where it is not served`, method, path, as: "S", status: 405, code: "method_not_allowed" })),
];

/** Refused before the token is looked at (PROTOCOL §7, §8): by the edge, and by management's own body parser behind it. */
const big = JSON.stringify({ name: "x".repeat(70 * 1024) });
const MEDIA_AND_SIZE: Case[] = [
  ...(["S", undefined] as const).flatMap((as) => [
    { ...raw("create", `${as ? "" : "unauthenticated, "}JSON as text/plain`, '{"name":"x"}', { "content-type": "text/plain" }, 415, "unsupported_media_type"), as },
    { ...raw("create", `${as ? "" : "unauthenticated, "}a form`, "name=x", { "content-type": "application/x-www-form-urlencoded" }, 415, "unsupported_media_type"), as },
    { ...raw("create", `${as ? "" : "unauthenticated, "}XML`, "<name>x</name>", { "content-type": "application/xml" }, 415, "unsupported_media_type"), as },
    { ...raw("create", `${as ? "" : "unauthenticated, "}multipart`, "--b\r\n\r\nx\r\n--b--", { "content-type": "multipart/form-data; boundary=b" }, 415, "unsupported_media_type"), as },
    { ...raw("create", `${as ? "" : "unauthenticated, "}JSON in latin1`, '{"name":"x"}', { "content-type": "application/json; charset=latin1" }, 415, "unsupported_media_type"), as },
    { ...raw("create", `${as ? "" : "unauthenticated, "}a +json type`, '{"name":"x"}', { "content-type": "application/merge-patch+json" }, 415, "unsupported_media_type"), as },
    { ...raw("create", `${as ? "" : "unauthenticated, "}70 KiB of JSON`, big, { "content-type": "application/json" }, 413, "too_large"), as },
    { ...raw("patch", `${as ? "" : "unauthenticated, "}70 KiB of JSON`, big, { "content-type": "application/json" }, 413, "too_large"), as },
    { ...raw("members", `${as ? "" : "unauthenticated, "}70 KiB of text`, big, { "content-type": "text/plain" }, 413, "too_large"), as },
  ]),
];

async function snapshot(): Promise<string> {
  const one = await rest(t, `/v1/teams/${fx.T}`, { token: fx.tokens.S, as: fx.S });
  const mine = await rest(t, "/v1/teams?limit=100", { token: fx.tokens.S, as: fx.S });
  const theirs = await rest(t, "/v1/teams?limit=100", { token: fx.tokens.O, as: fx.O });
  expect([one.status, mine.status, theirs.status]).toEqual([200, 200, 200]);
  return JSON.stringify([one.json.data, mine.json.data.map((x: { id: string }) => x.id), theirs.json.data.map((x: { id: string }) => x.id)]);
}
let before: string;

beforeAll(async () => {
  const [S, U, O] = [uniqueUser("s"), uniqueUser("u"), uniqueUser("o")];
  fx = { S, U, O, T: await createTeam(t, S, [U]), tokens: { S: await t.token(S), U: await t.token(U), O: await t.token(O) } };
  before = await snapshot();
});

async function run(c: Case): Promise<void> {
  const who = c.as ? fx[c.as] : undefined;
  const body = c.body === "U" || c.body === "O" ? { user_id: fx[c.body] } : c.body;
  const call: RestCall = { method: c.method, body, headers: c.headers, token: c.as ? fx.tokens[c.as] : undefined, as: who ?? "anonymous" };
  const r = await rest(t, c.path(fx), call);
  expectEnvelope(`${c.method} ${c.name}`, r, c.status, c.code);
  if (c.status === 405) expect(r.headers.get("allow")).toMatch(/^[A-Z]+(, [A-Z]+)*$/);
  expect({ name: c.name, state: await snapshot() }).toEqual({ name: c.name, state: before });
}

describe("hostile REST requests", () => {
  table("rest", [...CASES, ...MEDIA_AND_SIZE], run);
});

test("after the corpus: the team is as it was, and normal requests work", async () => {
  expect(await snapshot()).toBe(before);
  expect((await rest(t, "/v1/health")).status).toBe(200);
  const created = await rest(t, "/v1/teams", { method: "POST", body: { name: "After" }, token: fx.tokens.S, as: fx.S });
  expect(created.status).toBe(201);
});
