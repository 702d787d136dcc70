import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { USER_IDS } from "@chat/common/grammar-samples";
import { objectId } from "@chat/common/ids";
import type { Team } from "@chat/common/teams";
import { backends, createHarness, reportSkippedBackends, type Harness, type Reply } from "./harness";

const NE = { $ne: null };
const expectEnvelope = (r: Reply, status: number, code: string) => {
  expect({ status: r.status, code: r.json?.error?.code, hasMessage: typeof r.json?.error?.message === "string" }).toEqual({ status, code, hasMessage: true });
  expect(r.headers.get("content-type")).toStartWith("application/json");
};

for (const backend of backends) {
  describe(`request validation (${backend.name})`, () => {
    let h: Harness;
    let S: string;
    let U: string;
    let team: Team;
    let T: string;
    beforeAll(async () => {
      h = await createHarness(backend);
      S = h.user("super");
      U = h.user("user");
      team = await h.seedTeam({ super_admin: S, members: [U], meta_tags: ["alpha"] });
      T = `/v1/teams/${team.id}`;
    });
    afterAll(() => h.close());

    /** Every route that takes a body, with a valid body to vary. */
    const bodies = () => [
      { method: "POST", path: "/v1/teams", body: { name: "Valid", icon: "https://x.dev/i.png", meta_tags: ["a"] } },
      { method: "PATCH", path: T, body: { name: "Valid", icon: "https://x.dev/i.png", meta_tags: ["a"] } },
      { method: "POST", path: `${T}/members`, body: { user_id: "someone@x.dev" } },
      { method: "POST", path: `${T}/admins`, body: { user_id: U } },
      { method: "POST", path: `${T}/leave`, body: { successor: U } },
      { method: "POST", path: `${T}/attachments`, body: { type: "image", content_type: "image/png", size: 10, filename: "a.png" } },
    ];

    test("unknown fields in any body are refused with 400", async () => {
      for (const b of bodies()) {
        const r = await h.call(b.method, b.path, { as: S, body: { ...b.body, extra: 1 } });
        expectEnvelope(r, 400, "validation");
        expect(r.json.error.message).toContain("extra");
      }
      // Nothing changed: no request got through half-validated.
      expect((await h.store.get(team.id))!.version).toBe(team.version);
    });

    test("an operator object in any body field is refused with 400", async () => {
      for (const b of bodies())
        for (const field of Object.keys(b.body)) {
          const r = await h.call(b.method, b.path, { as: S, body: { ...b.body, [field]: NE } });
          expectEnvelope(r, 400, "validation");
        }
      expect((await h.store.get(team.id))!.version).toBe(team.version);
    });

    test("an operator in any query parameter is refused with 400", async () => {
      const queries = [
        ["/v1/teams", ["q", "tag", "cursor", "limit"]],
        [`${T}/messages`, ["before", "limit"]],
      ] as const;
      for (const [path, keys] of queries)
        for (const k of keys) {
          // qs-style objects, and JSON text where the parameter is typed (the name filter `q` takes any text literally).
          expectEnvelope(await h.call("GET", `${path}?${k}[$ne]=1`, { as: S }), 400, "validation");
          if (k !== "q") expectEnvelope(await h.call("GET", `${path}?${k}=${encodeURIComponent(JSON.stringify(NE))}`, { as: S }), 400, "validation");
        }
      const literal = await h.call("GET", `/v1/teams?q=${encodeURIComponent('{"$ne":null}')}`, { as: S });
      expect([literal.status, literal.json.data]).toEqual([200, []]);
    });

    test("an operator in any path parameter is refused with 400", async () => {
      const ne = encodeURIComponent(JSON.stringify(NE));
      for (const [method, path] of [
        ["GET", `/v1/teams/${ne}`],
        ["PATCH", `/v1/teams/${ne}`],
        ["DELETE", `/v1/teams/${ne}`],
        ["GET", `/v1/teams/${ne}/messages`],
        ["DELETE", `${T}/members/${ne}`],
        ["DELETE", `${T}/admins/${ne}`],
        ["GET", `/v1/attachments/${ne}/${objectId()}`],
        ["GET", `/v1/attachments/${team.id}/${ne}`],
      ] as const) {
        const r = await h.call(method, path, { as: S, body: method === "PATCH" ? { name: "x" } : undefined });
        expectEnvelope(r, 400, "validation");
      }
    });

    test("oversize and malformed values are refused with 400", async () => {
      const cases: [string, string, unknown][] = [
        ["POST", "/v1/teams", { name: "" }],
        ["POST", "/v1/teams", { name: "x".repeat(101) }],
        ["POST", "/v1/teams", { name: "   " }],
        ["POST", "/v1/teams", { name: "line\nbreak" }],
        ["POST", "/v1/teams", { name: "ok", meta_tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }],
        ["POST", "/v1/teams", { name: "ok", meta_tags: ["x".repeat(33)] }],
        ["POST", "/v1/teams", { name: "ok", meta_tags: ["Upper"] }],
        ["POST", "/v1/teams", { name: "ok", meta_tags: [""] }],
        ["POST", "/v1/teams", { name: "ok", meta_tags: "alpha" }],
        ["POST", "/v1/teams", { name: "ok", icon: "javascript:alert(1)" }],
        ["POST", "/v1/teams", { name: "ok", icon: `https://x.dev/${"a".repeat(2048)}` }],
        ["PATCH", T, { name: "x".repeat(101) }],
        ["PATCH", T, { meta_tags: ["bad tag"] }],
        ["POST", `${T}/members`, { user_id: `${"u".repeat(315)}@x.dev` }],
        ["POST", `${T}/members`, { user_id: "" }],
        ["POST", `${T}/members`, { user_id: "has space@x.dev" }],
        ["POST", `${T}/members`, { user_id: "*" }],
        ["POST", `${T}/members`, {}],
        ["POST", `${T}/attachments`, { type: "image", content_type: "image/png", size: 10, filename: "f".repeat(1025) }],
        ["POST", `${T}/attachments`, { type: "image", content_type: "image/png", size: 0, filename: "a.png" }],
        ["POST", `${T}/attachments`, { type: "image", content_type: "image/png", size: 1.5, filename: "a.png" }],
        ["POST", `${T}/attachments`, { type: "sticker", content_type: "image/png", size: 10, filename: "a.png" }],
        ["POST", `${T}/attachments`, { type: "image", content_type: "image", size: 10, filename: "a.png" }],
        ["POST", `${T}/attachments`, { type: "image", content_type: "image/png; charset=x", size: 10, filename: "a.png" }],
        ["POST", `${T}/attachments`, { type: "image", content_type: "text/html", size: 10, filename: "a.html" }],
        ["POST", `${T}/attachments`, { type: "file", content_type: "text/html", size: 10, filename: "" }],
      ];
      for (const [method, path, body] of cases) {
        const r = await h.call(method, path, { as: S, body });
        if (r.status !== 400) throw new Error(`${method} ${path} ${JSON.stringify(body).slice(0, 80)} -> ${r.status}`);
        expectEnvelope(r, 400, "validation");
      }
      for (const q of ["q=" + "x".repeat(101), "limit=101", "limit=0", "limit=abc", "limit=1.5", "cursor=zz", "tag=UP"])
        expectEnvelope(await h.call("GET", `/v1/teams?${q}`, { as: S }), 400, "validation");
      for (const q of ["before=0", "before=-1", "before=1.5", "limit=101", "limit=0"]) expectEnvelope(await h.call("GET", `${T}/messages?${q}`, { as: S }), 400, "validation");
      expectEnvelope(await h.call("DELETE", `${T}/members/${"u".repeat(321)}`, { as: S }), 400, "validation");
      expectEnvelope(await h.call("GET", "/v1/teams/507F191E810C19729DE860EA", { as: S }), 400, "validation");
      expect((await h.store.get(team.id))!.version).toBe(team.version);
    });

    test("user ids in bodies and paths follow the common grammar (the JWT `sub` and the WebSocket `to` use the same)", async () => {
      const t = await h.seedTeam({ super_admin: S, members: [U] });
      const base = `/v1/teams/${t.id}`;
      for (const v of USER_IDS.invalid) {
        const where = JSON.stringify(v).slice(0, 40);
        for (const [method, path, body] of [
          ["POST", `${base}/members`, { user_id: v }],
          ["POST", `${base}/admins`, { user_id: v }],
          ["POST", `${base}/leave`, { successor: v }],
        ] as const) {
          const r = await h.call(method, path, { as: S, body });
          expect({ where, path, status: r.status, code: r.json?.error?.code }).toEqual({ where, path, status: 400, code: "validation" });
        }
        // Not expressible as a path segment: lone surrogates; "", "." and ".." (the URL parser resolves dot segments, even encoded).
        if (!v.isWellFormed() || ["", ".", ".."].includes(v)) continue;
        for (const path of [`${base}/members/${encodeURIComponent(v)}`, `${base}/admins/${encodeURIComponent(v)}`]) {
          const r = await h.call("DELETE", path, { as: S });
          expect({ where, path, status: r.status, code: r.json?.error?.code }).toEqual({ where, path, status: 400, code: "validation" });
        }
      }
      for (const v of USER_IDS.valid) {
        const where = JSON.stringify(v).slice(0, 40);
        const del = await h.call("DELETE", `${base}/members/${encodeURIComponent(v)}`, { as: S });
        expect({ where, status: del.status }).toEqual({ where, status: 404 }); // valid, but not a member
        const add = await h.call("POST", `${base}/members`, { as: S, body: { user_id: v } });
        expect({ where, status: add.status }).toEqual({ where, status: 201 });
      }
      expect((await h.team(t.id)).members).toEqual([S, U, ...USER_IDS.valid].sort());
    });

    test("team names, tags and icons follow the common grammar; integers are JSON numbers or plain decimal digits", async () => {
      const cases: [string, string, unknown][] = [
        ["POST", "/v1/teams", { name: "bob\u200bteam" }],
        ["POST", "/v1/teams", { name: "\u202eevil" }],
        ["POST", "/v1/teams", { name: "a\u0000b" }],
        ["POST", "/v1/teams", { name: "\u001b[2J" }],
        ["POST", "/v1/teams", { name: "😀".repeat(101) }],
        ["POST", "/v1/teams", { name: "ok", meta_tags: ["a\u200b"] }],
        ["POST", "/v1/teams", { name: "ok", icon: 'https://"><img/src=x/onerror=alert(1)>' }],
        ["POST", "/v1/teams", { name: "ok", icon: 'https://x.dev/"><script>alert(1)</script>' }],
        ["POST", "/v1/teams", { name: "ok", icon: "http://x.dev/i.png" }],
        ["POST", "/v1/teams", { name: "ok", icon: "https:///x.dev/i.png" }],
        ["POST", "/v1/teams", { name: "ok", icon: "https://user:pw@x.dev/i.png" }],
        ["POST", "/v1/teams", { name: "ok", icon: "https://x.dev\\@evil.dev/" }],
        ["PATCH", T, { icon: "https://x.dev/a b.png" }],
        ["POST", `${T}/attachments`, { type: "image", content_type: "image/png", size: "4", filename: "a.png" }],
      ];
      for (const [method, path, body] of cases) {
        const r = await h.call(method, path, { as: S, body });
        if (r.status !== 400) throw new Error(`${method} ${path} ${JSON.stringify(body).slice(0, 80)} -> ${r.status}`);
        expectEnvelope(r, 400, "validation");
      }
      for (const q of ["0x10", "1e1", "+5", "%205", "5%20", "1.0", "-0"]) {
        expectEnvelope(await h.call("GET", `/v1/teams?limit=${q}`, { as: S }), 400, "validation");
        expectEnvelope(await h.call("GET", `${T}/messages?limit=${q}`, { as: S }), 400, "validation");
        expectEnvelope(await h.call("GET", `${T}/messages?before=${q}`, { as: S }), 400, "validation");
      }
      expect((await h.store.get(team.id))!.version).toBe(team.version);
      // What the grammar allows: 100 characters counted as code points, an empty icon.
      for (const body of [{ name: "😀".repeat(100) }, { name: "ok", icon: "" }, { name: "ok", icon: "https://例子.中国/i.png?s=64#x" }])
        expect((await h.call("POST", "/v1/teams", { as: S, body })).status).toBe(201);
    });

    test("an attachment over LIMIT_ATTACHMENT_BYTES is 413", async () => {
      const limit = h.config.limits.attachmentBytes;
      const r = await h.call("POST", `${T}/attachments`, { as: U, body: { type: "video", content_type: "video/mp4", size: limit + 1, filename: "big.mp4" } });
      expectEnvelope(r, 413, "too_large");
      const atLimit = await h.call("POST", `${T}/attachments`, { as: U, body: { type: "video", content_type: "video/mp4", size: limit, filename: "ok.mp4" } });
      expect(atLimit.status).toBe(201);
    });

    test("bad JSON, empty and non-object bodies are refused with 400; other media types with 415", async () => {
      for (const b of bodies()) {
        for (const raw of ["{bad", '{"name": "x",}', "", "null", "[]", '"text"', "42"]) {
          if (b.path.endsWith("/leave") && raw === "") continue; // leaving takes no body
          const r = await h.call(b.method, b.path, { as: S, raw });
          if (r.status !== 400) throw new Error(`${b.method} ${b.path} ${JSON.stringify(raw)} -> ${r.status} ${r.text}`);
          expectEnvelope(r, 400, "validation");
        }
        const form = await h.call(b.method, b.path, { as: S, raw: "name=x", headers: { "content-type": "application/x-www-form-urlencoded" } });
        expectEnvelope(form, 415, "unsupported_media_type");
      }
      // Malformed JSON never counts as "no successor": the super_admin is still there.
      expect((await h.team(team.id)).members).toContain(S);
    });

    test("bodies go through the one safe JSON parser: prototype keys at any depth, 64 KiB, media type", async () => {
      for (const b of bodies()) {
        const valid = JSON.stringify(b.body);
        for (const raw of [
          valid.replace("{", '{"__proto__":{"admin":true},'),
          valid.replace("{", '{"constructor":{"prototype":{"admin":true}},'),
          valid.replace("{", '{"x":[{"__proto__":1}],'),
          valid.replace("{", '{"prototype":1,'),
        ]) {
          const r = await h.call(b.method, b.path, { as: S, raw });
          if (r.status !== 400) throw new Error(`${b.method} ${b.path} ${raw} -> ${r.status} ${r.text}`);
          expectEnvelope(r, 400, "validation");
        }
        expectEnvelope(await h.call(b.method, b.path, { as: S, raw: JSON.stringify({ pad: "x".repeat(70 * 1024) }) }), 413, "too_large");
        const chunks = [new TextEncoder().encode('{"pad":"'), new Uint8Array(70 * 1024).fill(120), new TextEncoder().encode('"}')];
        const stream = new ReadableStream({ pull: (c) => (chunks.length ? c.enqueue(chunks.shift()!) : c.close()) });
        const streamed = await h.send(new Request(`http://localhost${b.path}`, { method: b.method, body: stream, headers: { authorization: `Bearer ${await h.token(S)}`, "content-type": "application/json" } }));
        expect([streamed.status, ((await streamed.json()) as any).error.code]).toEqual([413, "too_large"]);
        for (const type of ["text/plain", "application/xml", "application/json; charset=latin1", "application/merge-patch+json"])
          expectEnvelope(await h.call(b.method, b.path, { as: S, raw: valid, headers: { "content-type": type } }), 415, "unsupported_media_type");
      }
      expect((await h.store.get(team.id))!.version).toBe(team.version);
    });

    test("leave takes no body, an empty body or an empty object", async () => {
      for (const c of [{ raw: undefined }, { raw: "" }, { raw: "{}" }, { raw: "  {}  " }]) {
        const t = await h.seedTeam({ super_admin: S, members: [U] });
        const r = await h.call("POST", `/v1/teams/${t.id}/leave`, { as: U, raw: c.raw });
        expect([r.status, r.json.data?.members]).toEqual([200, [S]]);
      }
    });

    test("tokens: missing, malformed, wrongly signed, expired or alg:none are 401", async () => {
      const now = Math.floor(Date.now() / 1000);
      const sign = (secret: string, exp: number) => new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(S).setExpirationTime(exp).sign(new TextEncoder().encode(secret));
      const none = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify({ sub: S, exp: now + 60 })).toString("base64url")}.`;
      for (const token of [undefined, "garbage", await sign("another-secret-".padEnd(48, "y"), now + 60), await sign("test-secret-".padEnd(48, "x"), now - 60), none]) {
        const r = await h.call("GET", `/v1/teams/${team.id}`, { token, headers: token ? {} : { authorization: "Basic abc" } });
        expectEnvelope(r, 401, "unauthenticated");
      }
    });

    test("a repeated query parameter is a 400, after authentication; name search text never holds a control character", async () => {
      for (const [path, q] of [
        ["/v1/teams", "limit=5&limit=6"],
        ["/v1/teams", "q=a&q=b"],
        ["/v1/teams", "tag=alpha&tag=alpha"],
        ["/v1/teams", `cursor=${team.id}&limit=5&cursor=${team.id}`],
        [`${T}/messages`, "before=1&before=2"],
        [`${T}/messages`, "limit=1&limit=1"],
        [T, "x=1&x=2"],
        ["/v1/health", "a=1&a=1"],
      ] as const) {
        expectEnvelope(await h.call("GET", `${path}?${q}`, { as: S }), 400, "validation");
        if (path !== "/v1/health") expectEnvelope(await h.call("GET", `${path}?${q}`), 401, "unauthenticated");
      }
      for (const q of ["%00", "a%00", "%1b", "%e2%80%8b", "%e2%80%ae", "%7f"]) {
        const r = await h.call("GET", `/v1/teams?q=${q}`, { as: S });
        expect({ q, status: r.status, code: r.json?.error?.code }).toEqual({ q, status: 400, code: "validation" });
      }
      // Literal text, wildcards included, matches only what contains it.
      for (const q of ["%25", "_", ".*", "%5C", "%25%25"]) expect({ q, data: (await h.call("GET", `/v1/teams?q=${q}`, { as: S })).json.data }).toEqual({ q, data: [] });
      expect((await h.call("GET", "/v1/teams?q=seeded", { as: S })).json.data.map((x: any) => x.id)).toContain(team.id);
    });

    test("unknown routes are 404 in the envelope; a known path with another method is 405 (routing.test.ts)", async () => {
      expectEnvelope(await h.call("GET", "/v1/nope", { as: S }), 404, "not_found");
      expectEnvelope(await h.call("PUT", T, { as: S, body: {} }), 405, "method_not_allowed");
    });
  });
}
reportSkippedBackends("request validation");
