import { describe, expect, test } from "bun:test";
import { isJsonContentType, parseJsonBytes, parseJsonRequest, parseQuery } from "./json.ts";

const LIMIT = 64 * 1024;
const req = (body: RequestInit["body"], headers: Record<string, string> = { "content-type": "application/json" }) =>
  new Request("http://x/v1/teams", { method: "POST", body, headers, duplex: "half" } as RequestInit);

/** The value of an accepted body, checking that `bytes` are the body as sent. */
async function accepted(body: string, opts: Parameters<typeof parseJsonRequest>[1] = { limit: LIMIT }, headers?: Record<string, string>) {
  const r = await parseJsonRequest(req(body, headers), opts);
  if (!r.ok) throw new Error(`refused: ${r.error.message}`);
  expect(new TextDecoder().decode(r.bytes)).toBe(body);
  return r.value;
}

async function refusal(p: Promise<unknown> | unknown): Promise<{ status: number; code: string; message: string }> {
  const r = (await p) as { ok: boolean; error?: { response(): Response } };
  if (r.ok || !r.error) throw new Error(`expected a refusal, got ${JSON.stringify(r)}`);
  const res = r.error.response();
  const body = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, ...body.error };
}

describe("isJsonContentType", () => {
  test.each([
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON;charset=UTF-8",
    'application/json; charset="utf-8"',
    "application/json;",
  ])("accepts %p", (t) => expect(isJsonContentType(t)).toBe(true));
  test.each([
    null,
    "",
    "text/plain",
    "text/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "application/merge-patch+json",
    "application/json; charset=latin1",
    "application/json, text/plain",
    "application/jsonx",
    "application/json; garbage",
  ])("refuses %p", (t) => expect(isJsonContentType(t)).toBe(false));
});

describe("parseJsonRequest", () => {
  test("returns the parsed value", async () => {
    expect(await accepted('{"name":"Team","meta_tags":["a"]}')).toEqual({ name: "Team", meta_tags: ["a"] });
    expect(await accepted('{"a":1}', undefined, { "content-type": "application/json; charset=utf-8" })).toEqual({ a: 1 });
  });

  test.each([
    ["text/plain", { "content-type": "text/plain" }],
    ["a form", { "content-type": "application/x-www-form-urlencoded" }],
    ["XML", { "content-type": "application/xml" }],
    ["no type with a body", {} as Record<string, string>],
  ])("%s: 415", async (_n, headers) => {
    expect(await refusal(parseJsonRequest(req('{"a":1}', headers), { limit: LIMIT }))).toEqual({
      status: 415,
      code: "unsupported_media_type",
      message: "request body must be application/json",
    });
  });

  test("no type and no body: 400, a body is required", async () => {
    expect(await refusal(parseJsonRequest(req(null, {}), { limit: LIMIT }))).toEqual({
      status: 400,
      code: "validation",
      message: "a JSON body is required",
    });
  });

  test("allowEmpty: no body, or an empty JSON body, is undefined; anything else is parsed as usual", async () => {
    const opts = { limit: LIMIT, allowEmpty: true };
    expect(await parseJsonRequest(req(null, {}), opts)).toEqual({ ok: true, value: undefined, bytes: new Uint8Array(0) });
    expect(await parseJsonRequest(req(""), opts)).toEqual({ ok: true, value: undefined, bytes: new Uint8Array(0) });
    expect(await accepted('{"successor":"b@x.dev"}', opts)).toEqual({ successor: "b@x.dev" });
    expect((await refusal(parseJsonRequest(req("x", { "content-type": "text/plain" }), opts))).status).toBe(415);
    expect((await refusal(parseJsonRequest(req("{"), opts))).status).toBe(400);
  });

  test("over the limit: 413, declared or streamed, whatever the type", async () => {
    const big = JSON.stringify({ a: "x".repeat(100) });
    expect((await refusal(parseJsonRequest(req(big), { limit: 50 }))).status).toBe(413);
    const declared = req(big, { "content-type": "text/plain", "content-length": String(big.length) });
    expect((await refusal(parseJsonRequest(declared, { limit: 50 }))).status).toBe(413);
  });

  test("exactly the limit is accepted", async () => {
    const body = JSON.stringify({ a: "x".repeat(50) });
    expect((await parseJsonRequest(req(body), { limit: body.length })).ok).toBe(true);
    expect((await parseJsonRequest(req(body), { limit: body.length - 1 })).ok).toBe(false);
  });

  test.each([
    ["empty", ""],
    ["truncated", '{"a":'],
    ["single quotes", "{'a':1}"],
    ["trailing comma", '{"a":1,}'],
    ["NaN", '{"a":NaN}'],
    ["two values", '{"a":1} {"b":2}'],
  ])("invalid JSON (%s): 400", async (_n, body) => {
    expect(await refusal(parseJsonRequest(req(body), { limit: LIMIT }))).toEqual({
      status: 400,
      code: "validation",
      message: "request body is not valid JSON",
    });
  });

  test.each([
    ["a lone continuation byte", [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0x80, 0x22, 0x7d]],
    ["an overlong encoding of /", [0x22, 0xc0, 0xaf, 0x22]],
    ["a UTF-16 surrogate encoded in UTF-8", [0x22, 0xed, 0xa0, 0x80, 0x22]],
    ["a truncated sequence", [0x22, 0xe2, 0x82, 0x22]],
  ])("invalid UTF-8 (%s): 400", async (_n, bytes) => {
    expect(await refusal(parseJsonRequest(req(new Uint8Array(bytes)), { limit: LIMIT }))).toEqual({
      status: 400,
      code: "validation",
      message: "request body is not valid UTF-8",
    });
  });

  test("valid UTF-8 beyond ASCII passes", async () => {
    expect(await accepted('{"name":"Équipe 日本 🚀"}')).toEqual({ name: "Équipe 日本 🚀" });
  });

  test.each([
    ['{"__proto__":{"x":1}}', "__proto__"],
    ['{"a":[{"b":{"__proto__":null}}]}', "__proto__"],
    ['{"\\u005f_proto__":{"x":1}}', "__proto__"],
    ['{"constructor":{"prototype":{"x":1}}}', "constructor"],
    ['[{"prototype":1}]', "prototype"],
    ['{"a":{"b":{"c":{"constructor":1}}}}', "constructor"],
  ])("forbidden key in %s: 400", async (body, key) => {
    expect(await refusal(parseJsonRequest(req(body), { limit: LIMIT }))).toEqual({
      status: 400,
      code: "validation",
      message: `key "${key}" is not allowed`,
    });
    expect(({} as Record<string, unknown>).x).toBeUndefined(); // and nothing was polluted
  });

  test("those words as values, or inside longer keys, are fine", async () => {
    const body = '{"name":"__proto__","constructor_id":1,"x":["prototype"]}';
    expect(await accepted(body)).toEqual({ name: "__proto__", constructor_id: 1, x: ["prototype"] });
  });

  test("numbers beyond a double: 400", async () => {
    for (const body of ["1e400", '{"size":-1e999}', "[1,[2,[3e500]]]"]) {
      expect((await refusal(parseJsonRequest(req(body), { limit: LIMIT }))).message).toBe("number out of range");
    }
  });

  test("deep nesting is refused without recursion; flat enough passes", async () => {
    const deep = "[".repeat(30_000) + "]".repeat(30_000);
    expect((await refusal(parseJsonRequest(req(deep), { limit: LIMIT }))).status).toBe(400);
    const nested = (n: number) => '{"a":'.repeat(n - 1) + "{}" + "}".repeat(n - 1);
    expect((await parseJsonRequest(req(nested(32)), { limit: LIMIT })).ok).toBe(true);
    expect(await refusal(parseJsonRequest(req(nested(33)), { limit: LIMIT }))).toMatchObject({
      message: "JSON nested deeper than 32 levels",
    });
    expect((await parseJsonRequest(req(nested(33)), { limit: LIMIT, maxDepth: 40 })).ok).toBe(true);
  });

  test("a leading byte order mark is dropped by the decoder", () => {
    expect(parseJsonBytes(new Uint8Array([0xef, 0xbb, 0xbf, 0x31]))).toEqual({ ok: true, value: 1 });
  });
});

describe("parseQuery", () => {
  const spec = { q: "string", limit: { type: "int", min: 1, max: 100 }, before: "int", tag: { type: "string", maxLength: 32 } } as const;
  const q = (s: string, opts?: Parameters<typeof parseQuery>[2]) => parseQuery(new URL(`http://x/v1/teams${s}`), spec, opts);

  test("typed values for the allowed parameters", () => {
    const r = q("?q=a%20b&limit=20&before=0&tag=x-1");
    expect(r).toEqual({ ok: true, value: { q: "a b", limit: 20, before: 0, tag: "x-1" } });
    if (r.ok) {
      const n: number | undefined = r.value.limit; // typed by the spec
      expect(n).toBe(20);
    }
    expect(q("")).toEqual({ ok: true, value: {} });
    expect(q("?q=")).toEqual({ ok: true, value: { q: "" } });
  });

  test("a repeated parameter: 400, even with the same value", async () => {
    expect(await refusal(q("?limit=1&limit=1"))).toEqual({ status: 400, code: "validation", message: 'query parameter "limit" repeated' });
    expect((await refusal(q("?q=a&q=b"))).status).toBe(400);
  });

  test("an unknown parameter: 400 unless ignored", async () => {
    expect((await refusal(q("?sort=1"))).message).toBe('unknown query parameter "sort"');
    expect((await refusal(q("?%00x=1"))).message).toBe("unknown query parameter"); // not echoed
    expect((await refusal(q("?__proto__=1"))).status).toBe(400);
    expect(q("?sort=1&sort=2&limit=5", { unknown: "ignore" })).toEqual({ ok: true, value: { limit: 5 } });
  });

  test.each(["0x10", "1e2", "%2B5", "+5", "%205", "5.0", "-1", "", "05a", "١٢", "99999999999999999"])(
    "int %p: 400",
    async (v) => {
      expect((await refusal(q(`?before=${v}`))).message).toBe('query parameter "before" must be an integer from 0 to 9007199254740991');
    },
  );

  test("int bounds", async () => {
    expect((await refusal(q("?limit=0"))).message).toBe('query parameter "limit" must be an integer from 1 to 100');
    expect((await refusal(q("?limit=101"))).status).toBe(400);
    expect(q("?limit=100")).toEqual({ ok: true, value: { limit: 100 } });
    expect(q("?before=9007199254740991")).toEqual({ ok: true, value: { before: Number.MAX_SAFE_INTEGER } });
  });

  test.each(["%00", "a%0Ab", "%09", "%7F", "%C2%85"])("control characters in strings (%p): 400", async (v) => {
    expect((await refusal(q(`?q=${v}`))).message).toBe('query parameter "q" holds control characters');
  });

  test("string length", async () => {
    expect(q(`?tag=${"a".repeat(32)}`).ok).toBe(true);
    expect((await refusal(q(`?tag=${"a".repeat(33)}`))).status).toBe(400);
    expect(q(`?q=${"a".repeat(2048)}`).ok).toBe(true);
    expect((await refusal(q(`?q=${"a".repeat(2049)}`))).status).toBe(400);
  });

  test("accepts URLSearchParams too", () => {
    expect(parseQuery(new URLSearchParams("limit=3"), spec)).toEqual({ ok: true, value: { limit: 3 } });
  });
});
