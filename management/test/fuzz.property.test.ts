// Property tests of the REST schemas (fast-check, fixed seed): random JSON bodies, queries and path values
// sent to every route through app.handle get a documented answer — a success, or the envelope with the status
// of its code — never a 500, a thrown exception or a non-JSON page. What a route accepts is valid by its rules.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ERROR_CODES, httpStatus } from "@chat/common/errors";
import { USER_IDS } from "@chat/common/grammar-samples";
import { isIcon, isTeamName } from "@chat/common/grammar";
import { backends, createHarness, type Harness, type Reply } from "./harness";

const RUNS = { seed: 20261129, numRuns: 150 };

/** Documented: 2xx, or the envelope whose code has exactly this status. */
function expectDocumented(where: string, r: Reply, allowed: number[]): void {
  expect({ where, status: r.status, allowed: allowed.includes(r.status) }).toEqual({ where, status: r.status, allowed: true });
  if (r.status >= 400) {
    const code = r.json?.error?.code;
    expect({ where, code: ERROR_CODES.includes(code), status: httpStatus[code as (typeof ERROR_CODES)[number]] }).toEqual({ where, code: true, status: r.status });
    expect(typeof r.json.error.message).toBe("string");
  }
}

const value = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom<unknown>("", ".", "..", "*", "__proto__", "image", "image/png", "https://x.dev/i.png", 'https://"><img>', 1, 0, -1, 1.5, "4", 2 ** 53, 1e300, null, { $ne: null }, [], ...USER_IDS.invalid, ...USER_IDS.valid),
);
/** A body: a random object over the route's own field names and a few others, or any JSON at all. */
const bodyOf = (fields: string[]) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.dictionary(fc.constantFrom(...fields, "extra", "__proto__", "constructor", "$where"), value, { maxKeys: fields.length + 1 }).map((o) => JSON.stringify(o)) },
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 40 }),
  );
const queryValue = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom("0", "1", "50", "100", "101", "0x10", "1e1", "-1", "%00", "%ZZ", "a&limit=2"));

describe("REST schemas, fuzzed", () => {
  let h: Harness;
  let S: string;
  let T: string;
  const ALWAYS = [400, 401, 403, 404, 405, 409, 413, 415, 429];
  beforeAll(async () => {
    h = await createHarness(backends[0]!);
    S = h.user("s");
    T = `/v1/teams/${(await h.seedTeam({ super_admin: S, members: [h.user("u")] })).id}`;
  });
  afterAll(() => h.close());

  const routes: [string, string, () => string, string[], number[]][] = [
    ["POST", "/v1/teams", () => "/v1/teams", ["name", "icon", "meta_tags"], [201]],
    ["PATCH", "/v1/teams/:id", () => T, ["name", "icon", "meta_tags"], [200]],
    ["POST", "/v1/teams/:id/members", () => `${T}/members`, ["user_id"], [201]],
    ["POST", "/v1/teams/:id/admins", () => `${T}/admins`, ["user_id"], [201]],
    ["POST", "/v1/teams/:id/attachments", () => `${T}/attachments`, ["type", "content_type", "size", "filename"], [201]],
  ];
  for (const [method, name, path, fields, ok] of routes)
    test(`${method} ${name}: random bodies`, async () => {
      await fc.assert(
        fc.asyncProperty(bodyOf(fields), async (raw) => {
          const r = await h.call(method, path(), { as: S, raw });
          expectDocumented(`${method} ${raw.slice(0, 80)}`, r, [...ok, ...ALWAYS]);
          if (r.status === 201 && path() === "/v1/teams") {
            // What was accepted is valid by the rules of every transport.
            const body = JSON.parse(raw);
            expect(isTeamName(body.name, 100)).toBe(true);
            expect(body.icon === undefined || isIcon(body.icon)).toBe(true);
          }
        }),
        RUNS,
      );
    });

  test("leave with random bodies: the super_admin goes only with a member named as successor", async () => {
    const U = h.user("heir");
    const fresh = async () => `/v1/teams/${(await h.seedTeam({ super_admin: S, members: [U] })).id}`;
    let L = await fresh();
    await fc.assert(
      fc.asyncProperty(fc.oneof(bodyOf(["successor"]), fc.constant(JSON.stringify({ successor: U }))), async (raw) => {
        const r = await h.call("POST", `${L}/leave`, { as: S, raw });
        expectDocumented(`leave ${raw.slice(0, 80)}`, r, [200, ...ALWAYS]);
        if (r.status === 200) {
          expect([JSON.parse(raw).successor, r.json.data.super_admin, r.json.data.members]).toEqual([U, U, [U]]);
          L = await fresh();
        }
      }),
      { ...RUNS, numRuns: 100 },
    );
  });

  test("random queries on the list and history routes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom("q", "tag", "cursor", "limit", "before", "x", "__proto__", "limit[$ne]"), queryValue, { maxKeys: 4 }),
        fc.boolean(),
        async (q, history) => {
          const qs = Object.entries(q)
            .map(([k, v]) => `${encodeURIComponent(k)}=${v}`)
            .join("&");
          const r = await h.call("GET", `${history ? `${T}/messages` : "/v1/teams"}?${qs}`, { as: S });
          expectDocumented(`GET ${qs}`, r, [200, ...ALWAYS]);
        },
      ),
      { ...RUNS, numRuns: 300 },
    );
  });

  test("random path values in every path parameter", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.constantFrom(...USER_IDS.invalid.filter((v) => v.isWellFormed()))), fc.integer({ min: 0, max: 5 }), async (v, which) => {
        const seg = encodeURIComponent(v);
        const path = [`/v1/teams/${seg}`, `${T}/members/${seg}`, `${T}/admins/${seg}`, `/v1/teams/${seg}/messages`, `/v1/attachments/${seg}/${seg}`, `${T}/members/${seg}`][which]!;
        const method = which === 1 || which === 2 ? "DELETE" : "GET";
        const r = await h.call(method, path, { as: S });
        expectDocumented(`${method} ${path}`, r, [200, ...ALWAYS]);
      }),
      { ...RUNS, numRuns: 300 },
    );
    // The fuzzing removed nobody it was not allowed to: the super_admin is still there.
    const team = await h.call("GET", T, { as: S });
    expect(team.json.data.super_admin).toBe(S);
  });
});
