// Property tests: whatever arrives, the parsers answer a documented refusal or a valid value, and never throw.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { parseJsonRequest, parseQuery, type Parsed } from "./json.ts";

const RUNS = { seed: 20260815, numRuns: 500 };
const FORBIDDEN = ["__proto__", "constructor", "prototype"];
const enc = (s: string) => new TextEncoder().encode(s);

/** The documented refusals: status, code and the envelope, nothing else. */
async function envelope(r: Parsed<unknown>): Promise<number> {
  if (r.ok) return 200;
  const res = r.error.response();
  const body = (await res.json()) as { error: { code: string; message: string } };
  const code = { 400: "validation", 413: "too_large", 415: "unsupported_media_type" }[res.status];
  expect(code).toBeDefined();
  expect(body).toEqual({ error: { code: code!, message: expect.any(String) } });
  expect(res.headers.get("content-type")).toStartWith("application/json");
  return res.status;
}

// A small independent model of the rules, recursive (inputs here are small).
function modelVerdict(bytes: Uint8Array, maxDepth: number): { ok: true; value: unknown } | { ok: false } {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { ok: false };
  }
  const fine = (v: unknown, depth: number): boolean => {
    if (typeof v === "number") return Number.isFinite(v);
    if (typeof v !== "object" || v === null) return true;
    if (depth > maxDepth) return false;
    if (Array.isArray(v)) return v.every((x) => fine(x, depth + 1));
    return Object.keys(v).every((k) => !FORBIDDEN.includes(k) && fine((v as Record<string, unknown>)[k], depth + 1));
  };
  return fine(value, 1) ? { ok: true, value } : { ok: false };
}

// JSON texts that hide a forbidden key somewhere, sometimes \u-escaped.
const poisoned = fc
  .tuple(fc.constantFrom(...FORBIDDEN, "\\u005f_proto__", "constru\\u0063tor"), fc.json(), fc.integer({ min: 0, max: 3 }))
  .map(([key, inner, depth]) => "[".repeat(depth) + `{"ok":1,"${key}":${inner}}` + "]".repeat(depth));

const bodyText = fc.oneof(
  { arbitrary: fc.json({ maxDepth: 4 }), weight: 4 },
  { arbitrary: poisoned, weight: 2 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 80 }), weight: 1 },
  { arbitrary: fc.constantFrom("", "1e400", "[".repeat(40) + "]".repeat(40), '{"a":NaN}', "\uFEFF{}"), weight: 1 },
);
const bodyBytes = fc.oneof({ arbitrary: bodyText.map(enc), weight: 4 }, { arbitrary: fc.uint8Array({ maxLength: 120 }), weight: 1 });

const contentType = fc.oneof(
  { arbitrary: fc.constantFrom("application/json", "application/json; charset=utf-8", "APPLICATION/JSON;charset=UTF-8"), weight: 6 },
  {
    arbitrary: fc.constantFrom(
      "text/plain",
      "application/x-www-form-urlencoded",
      "application/xml",
      "application/json; charset=latin1",
      "application/problem+json",
    ),
    weight: 1,
  },
  { arbitrary: fc.string({ unit: "binary-ascii", maxLength: 40 }), weight: 1 },
);

const declaredLength = fc.oneof(
  { arbitrary: fc.constant(null), weight: 6 },
  { arbitrary: fc.nat({ max: 400 }).map(String), weight: 1 },
  { arbitrary: fc.constantFrom("-1", "abc", "1e3", "3, 3", "99999999999999999999"), weight: 1 },
);

const isJsonBody = (h: Headers) => /^application\/json\s*(;\s*(charset="?utf-8"?)?\s*)?$/i.test(h.get("content-type") ?? "");

describe("parseJsonRequest, any input", () => {
  test("a documented refusal or exactly the model's value; never a throw", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.option(contentType, { freq: 8 }),
        fc.option(bodyBytes, { freq: 8 }),
        declaredLength,
        fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constant(64 * 1024)),
        fc.boolean(),
        async (type, bytes, declared, limit, allowEmpty) => {
          const headers = new Headers();
          // Header values the Headers class itself refuses cannot arrive over the wire either.
          try {
            if (type !== null) headers.set("content-type", type);
          } catch {
            return;
          }
          if (declared !== null) headers.set("content-length", declared);
          const req = new Request("http://x/v1/teams", { method: "POST", headers, body: bytes });
          const got = await parseJsonRequest(req, { limit, allowEmpty });
          const status = await envelope(got);

          // The same decision, step by step from the documented order.
          const expected = ((): number | { value: unknown } => {
            if (declared !== null && !/^[0-9]+$/.test(declared)) return 400;
            if (declared !== null && Number(declared) > limit) return 413;
            const t = headers.get("content-type");
            const isJson = isJsonBody(headers);
            const hasBody = bytes !== null && (declared === null || Number(declared) > 0);
            if (!isJson) return t !== null || hasBody ? 415 : allowEmpty ? { value: undefined } : 400;
            const b = bytes ?? new Uint8Array(0);
            if (b.byteLength > limit) return 413;
            if (b.byteLength === 0 && allowEmpty) return { value: undefined };
            const v = modelVerdict(b, 32);
            return v.ok ? { value: v.value } : 400;
          })();
          if (typeof expected === "number") {
            expect(status).toBe(expected);
          } else {
            expect(got.ok).toBe(true);
            if (got.ok) {
              expect(Bun.deepEquals(got.value, expected.value, true)).toBe(true);
              expect(got.bytes).toEqual(isJsonBody(headers) ? (bytes ?? new Uint8Array(0)) : new Uint8Array(0));
            }
          }
        },
      ),
      RUNS,
    );
  });
});

describe("parseQuery, any input", () => {
  const spec = { q: "string", limit: { type: "int", min: 1, max: 100 }, before: "int" } as const;
  const key = fc.oneof(fc.constantFrom("q", "limit", "before", "__proto__", "Limit"), fc.string({ maxLength: 6 }));
  const value = fc.oneof(
    fc.nat({ max: 200 }).map(String),
    fc.constantFrom("0x10", "1e2", "+5", " 5", "5.0", "-0", "", "%00", "%zz", "99999999999999999"),
    fc.string({ unit: "grapheme", maxLength: 10 }),
    fc.string({ unit: "binary", maxLength: 10 }),
  );
  const query = fc.oneof(
    fc.array(fc.tuple(key, value), { maxLength: 5 }).map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&")),
    fc.array(fc.tuple(key, value), { maxLength: 5 }).map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join("&")),
    fc.string({ unit: "binary-ascii", maxLength: 40 }),
  );

  test("a 400 envelope or values that keep every rule; never a throw", async () => {
    await fc.assert(
      fc.asyncProperty(query, fc.boolean(), async (qs, ignore) => {
        let url: URL;
        try {
          url = new URL(`http://x/v1/teams?${qs}`);
        } catch {
          return;
        }
        const got = parseQuery(url, spec, { unknown: ignore ? "ignore" : "reject" });
        if (!got.ok) {
          expect(await envelope(got)).toBe(400);
          return;
        }
        const names = [...url.searchParams.keys()].filter((k) => !ignore || Object.hasOwn(spec, k));
        for (const k of names) expect(Object.hasOwn(spec, k)).toBe(true);
        expect(new Set(names).size).toBe(names.length); // no parameter was repeated
        for (const [k, v] of Object.entries(got.value)) {
          expect(url.searchParams.getAll(k)).toEqual([String(v)]);
          if (k === "q") expect(v).not.toMatch(/\p{Cc}/u);
          else expect(Number.isSafeInteger(v) && (v as number) >= (k === "limit" ? 1 : 0)).toBe(true);
        }
      }),
      RUNS,
    );
  });
});
