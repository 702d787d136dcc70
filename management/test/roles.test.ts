import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { objectId } from "@chat/common/ids";
import type { Team } from "@chat/common/teams";
import { backends, createHarness, reportSkippedBackends, uploadAttachment, type Harness, type Roster } from "./harness";

/**
 * The route × role matrix: every route of PROTOCOL.md section 4, for each caller, on an active
 * team, on an inactive one and on an unknown id — all from the one table below. Each cell runs on
 * a freshly seeded team, so no case depends on another's effects.
 */
const ACTORS = ["anonymous", "non_member", "user", "admin", "super_admin"] as const;
type Actor = (typeof ACTORS)[number];
type Row = Record<Actor, number>;
const R = (anonymous: number, non_member: number, user: number, admin: number, super_admin: number): Row => ({ anonymous, non_member, user, admin, super_admin });
const same = "same" as const;

interface Fixture {
  team: Team;
  /** The acting user (undefined for anonymous). */
  me?: string;
  S: string;
  A: string;
  A2: string;
  U: string;
  U2: string;
  N: string;
  X: string;
  attachment?: string;
  /** A broadcast by U, stored before the call. */
  msg: string;
}
interface Case {
  /** Method and path as the app registers it. */
  route: string;
  name: string;
  path: (f: Fixture) => string;
  body?: (f: Fixture) => unknown;
  /** Routes about one team also run on an unknown id (always 401 / 404). */
  teamScoped: boolean;
  active: Row;
  inactive: Row | typeof same;
  needsUpload?: boolean;
  /** Checked after every 2xx on an active team. */
  effect?: (after: Roster, f: Fixture) => void;
}

const T = (f: Fixture) => `/v1/teams/${f.team.id}`;
const UNKNOWN = R(401, 404, 404, 404, 404);

const TABLE: Case[] = [
  { route: "POST /v1/teams", name: "POST /teams", path: () => "/v1/teams", body: () => ({ name: "New team" }), teamScoped: false, active: R(401, 201, 201, 201, 201), inactive: same },
  { route: "GET /v1/teams", name: "GET /teams", path: () => "/v1/teams?limit=100", teamScoped: false, active: R(401, 200, 200, 200, 200), inactive: same },
  { route: "GET /v1/teams/:id", name: "GET /teams/:id", path: T, teamScoped: true, active: R(401, 403, 200, 200, 200), inactive: same },
  { route: "GET /v1/teams/:id/members", name: "GET /teams/:id/members", path: (f) => `/v1/teams/${f.team.id}/members`, teamScoped: true, active: R(401, 403, 200, 200, 200), inactive: same },
  {
    route: "PATCH /v1/teams/:id", name: "PATCH /teams/:id",
    path: T,
    body: () => ({ name: "Renamed", meta_tags: ["x"] }),
    teamScoped: true,
    active: R(401, 403, 403, 200, 200),
    inactive: R(401, 403, 403, 409, 409),
    effect: (t) => expect([t.name, t.meta_tags]).toEqual(["Renamed", ["x"]]),
  },
  {
    route: "DELETE /v1/teams/:id", name: "DELETE /teams/:id (idempotent)",
    path: T,
    teamScoped: true,
    active: R(401, 403, 403, 403, 200),
    inactive: R(401, 403, 403, 403, 200),
    effect: (t) => expect(t.active).toBe(false),
  },
  {
    route: "POST /v1/teams/:id/members", name: "POST members: a new user",
    path: (f) => `${T(f)}/members`,
    body: (f) => ({ user_id: f.X }),
    teamScoped: true,
    active: R(401, 403, 403, 201, 201),
    inactive: R(401, 403, 403, 409, 409),
    effect: (t, f) => expect([t.members.includes(f.X), t.admins.includes(f.X)]).toEqual([true, false]),
  },
  { route: "POST /v1/teams/:id/members", name: "POST members: already a member", path: (f) => `${T(f)}/members`, body: (f) => ({ user_id: f.U2 }), teamScoped: true, active: R(401, 403, 403, 409, 409), inactive: R(401, 403, 403, 409, 409) },
  {
    route: "DELETE /v1/teams/:id/members/:user_id", name: "DELETE members: a user-level member",
    path: (f) => `${T(f)}/members/${f.U2}`,
    teamScoped: true,
    active: R(401, 403, 403, 200, 200),
    inactive: R(401, 403, 403, 409, 409),
    effect: (t, f) => expect(t.members).not.toContain(f.U2),
  },
  {
    route: "DELETE /v1/teams/:id/members/:user_id", name: "DELETE members: an admin",
    path: (f) => `${T(f)}/members/${f.A2}`,
    teamScoped: true,
    active: R(401, 403, 403, 403, 200),
    inactive: R(401, 403, 403, 403, 409),
    effect: (t, f) => expect([t.members.includes(f.A2), t.admins.includes(f.A2)]).toEqual([false, false]),
  },
  { route: "DELETE /v1/teams/:id/members/:user_id", name: "DELETE members: the super_admin", path: (f) => `${T(f)}/members/${f.S}`, teamScoped: true, active: R(401, 403, 403, 403, 403), inactive: same },
  { route: "DELETE /v1/teams/:id/members/:user_id", name: "DELETE members: oneself", path: (f) => `${T(f)}/members/${f.me ?? f.U}`, teamScoped: true, active: R(401, 403, 403, 403, 403), inactive: same },
  { route: "DELETE /v1/teams/:id/members/:user_id", name: "DELETE members: a non-member", path: (f) => `${T(f)}/members/${f.X}`, teamScoped: true, active: R(401, 403, 403, 404, 404), inactive: R(401, 403, 403, 409, 409) },
  {
    route: "POST /v1/teams/:id/admins", name: "POST admins: a user-level member",
    path: (f) => `${T(f)}/admins`,
    body: (f) => ({ user_id: f.U2 }),
    teamScoped: true,
    active: R(401, 403, 403, 403, 201),
    inactive: R(401, 403, 403, 403, 409),
    effect: (t, f) => expect(t.admins).toContain(f.U2),
  },
  { route: "POST /v1/teams/:id/admins", name: "POST admins: a non-member", path: (f) => `${T(f)}/admins`, body: (f) => ({ user_id: f.X }), teamScoped: true, active: R(401, 403, 403, 403, 409), inactive: R(401, 403, 403, 403, 409) },
  { route: "POST /v1/teams/:id/admins", name: "POST admins: already an admin", path: (f) => `${T(f)}/admins`, body: (f) => ({ user_id: f.A2 }), teamScoped: true, active: R(401, 403, 403, 403, 409), inactive: R(401, 403, 403, 403, 409) },
  {
    route: "DELETE /v1/teams/:id/admins/:user_id", name: "DELETE admins: an admin",
    path: (f) => `${T(f)}/admins/${f.A2}`,
    teamScoped: true,
    active: R(401, 403, 403, 403, 200),
    inactive: R(401, 403, 403, 403, 409),
    effect: (t, f) => expect([t.members.includes(f.A2), t.admins.includes(f.A2)]).toEqual([true, false]),
  },
  { route: "DELETE /v1/teams/:id/admins/:user_id", name: "DELETE admins: not an admin", path: (f) => `${T(f)}/admins/${f.U2}`, teamScoped: true, active: R(401, 403, 403, 403, 404), inactive: R(401, 403, 403, 403, 409) },
  { route: "DELETE /v1/teams/:id/admins/:user_id", name: "DELETE admins: the super_admin", path: (f) => `${T(f)}/admins/${f.S}`, teamScoped: true, active: R(401, 403, 403, 403, 409), inactive: R(401, 403, 403, 403, 409) },
  {
    route: "POST /v1/teams/:id/leave", name: "POST leave, no successor",
    path: (f) => `${T(f)}/leave`,
    teamScoped: true,
    active: R(401, 403, 200, 200, 409),
    inactive: R(401, 403, 409, 409, 409),
    effect: (t, f) => expect([t.members.includes(f.me!), t.admins.includes(f.me!)]).toEqual([false, false]),
  },
  {
    route: "POST /v1/teams/:id/leave", name: "POST leave, successor a member",
    path: (f) => `${T(f)}/leave`,
    body: (f) => ({ successor: f.U2 }),
    teamScoped: true,
    active: R(401, 403, 409, 409, 200),
    inactive: R(401, 403, 409, 409, 409),
    effect: (t, f) => expect([t.super_admin, t.admins.includes(f.U2), t.members.includes(f.S), t.active]).toEqual([f.U2, true, false, true]),
  },
  { route: "POST /v1/teams/:id/leave", name: "POST leave, successor not a member", path: (f) => `${T(f)}/leave`, body: (f) => ({ successor: f.X }), teamScoped: true, active: R(401, 403, 409, 409, 409), inactive: R(401, 403, 409, 409, 409) },
  { route: "GET /v1/teams/:id/messages", name: "GET messages", path: (f) => `${T(f)}/messages`, teamScoped: true, active: R(401, 403, 200, 200, 200), inactive: same },
  // Message lifecycle (section 9); the message is U's. Permission before state: a non-author's edit is 403 on an inactive team too.
  {
    route: "PATCH /v1/teams/:id/messages/:msg", name: "PATCH a message: edit (author)",
    path: (f) => `${T(f)}/messages/${f.msg}`,
    body: () => ({ data: "edited" }),
    teamScoped: true,
    active: R(401, 403, 200, 403, 403),
    inactive: R(401, 403, 409, 403, 403),
  },
  { route: "PATCH /v1/teams/:id/messages/:msg", name: "PATCH a message that does not exist", path: (f) => `${T(f)}/messages/${objectId(Date.now() - 60_000)}`, body: () => ({ data: "x" }), teamScoped: true, active: R(401, 403, 404, 404, 404), inactive: same },
  { route: "DELETE /v1/teams/:id/messages/:msg", name: "DELETE a message (author, admins)", path: (f) => `${T(f)}/messages/${f.msg}`, teamScoped: true, active: R(401, 403, 200, 200, 200), inactive: same },
  { route: "PUT /v1/teams/:id/messages/:msg/reactions/:emoji", name: "PUT a reaction", path: (f) => `${T(f)}/messages/${f.msg}/reactions/${encodeURIComponent("👍")}`, teamScoped: true, active: R(401, 403, 200, 200, 200), inactive: R(401, 403, 409, 409, 409) },
  { route: "DELETE /v1/teams/:id/messages/:msg/reactions/:emoji", name: "DELETE a reaction (none there: still 200)", path: (f) => `${T(f)}/messages/${f.msg}/reactions/x`, teamScoped: true, active: R(401, 403, 200, 200, 200), inactive: R(401, 403, 409, 409, 409) },
  { route: "PUT /v1/teams/:id/read", name: "PUT read marker", path: (f) => `${T(f)}/read`, body: () => ({ seq: 5 }), teamScoped: true, active: R(401, 403, 200, 200, 200), inactive: same },
  {
    route: "GET /v1/teams/:id/presence", name: "GET presence", path: (f) => `${T(f)}/presence`, teamScoped: true,
    active: R(401, 403, 200, 200, 200), inactive: same,
  },
  { route: "GET /v1/teams/:id/reads", name: "GET read receipts", path: (f) => `${T(f)}/reads`, teamScoped: true, active: R(401, 403, 200, 200, 200), inactive: same },
  {
    route: "POST /v1/teams/:id/attachments", name: "POST attachments",
    path: (f) => `${T(f)}/attachments`,
    body: () => ({ type: "file", content_type: "application/pdf", size: 1234, filename: "a.pdf" }),
    teamScoped: true,
    active: R(401, 403, 201, 201, 201),
    inactive: R(401, 403, 409, 409, 409),
  },
  {
    route: "GET /v1/attachments/:team_id/:id", name: "GET attachments: uploaded",
    path: (f) => (f.attachment?.startsWith(f.team.id) ? `/v1/attachments/${f.attachment}` : `/v1/attachments/${f.team.id}/${objectId()}`),
    teamScoped: true,
    needsUpload: true,
    active: R(401, 403, 302, 302, 302),
    inactive: same,
  },
  { route: "GET /v1/attachments/:team_id/:id", name: "GET attachments: never uploaded", path: (f) => `/v1/attachments/${f.team.id}/${objectId()}`, teamScoped: true, active: R(401, 403, 404, 404, 404), inactive: same },
  // Metrics are never public: only the bearer of METRICS_TOKEN (none here) or the private ops port.
  { route: "GET /v1/metrics", name: "GET /v1/metrics", path: () => "/v1/metrics", teamScoped: false, active: R(401, 401, 401, 401, 401), inactive: R(401, 401, 401, 401, 401) },
  ...["/v1/health", "/v1/ready", "/v1/openapi.json", "/v1/docs", "/v1/asyncapi.json"].map(
    (p): Case => ({ route: `GET ${p}`, name: `GET ${p}`, path: () => p, teamScoped: false, active: R(200, 200, 200, 200, 200), inactive: same }),
  ),
  { route: "GET /v1/docs/assets/:name", name: "GET docs assets", path: () => "/v1/docs/assets/swagger-ui.css", teamScoped: false, active: R(200, 200, 200, 200, 200), inactive: same },
];


for (const backend of backends) {
  describe(`route × role matrix (${backend.name})`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await createHarness(backend);
    });
    afterAll(() => h.close());

    async function fixture(c: Case, actor: Actor, variant: "active" | "inactive" | "unknown"): Promise<Fixture> {
      const u = (n: string) => h.user(`${n}-${objectId().slice(-6)}`);
      const f = { S: u("super"), A: u("admin"), A2: u("admin2"), U: u("user"), U2: u("user2"), N: u("outsider"), X: u("newcomer") } as Fixture;
      f.team = await h.seedTeam({ super_admin: f.S, admins: [f.A, f.A2], members: [f.U, f.U2] });
      f.me = { anonymous: undefined, non_member: f.N, user: f.U, admin: f.A, super_admin: f.S }[actor];
      if (c.needsUpload) f.attachment = await uploadAttachment(h, f.S, f.team.id, new Uint8Array([1, 2, 3]));
      f.msg = objectId();
      await h.messages.insertMany([{ id: f.msg, channel_id: f.team.id, seq: 1, from: f.U, to: "*", type: "text", data: "hello", ts: new Date().toISOString() }]);
      if (variant === "inactive") {
        const off = { ...f.team, active: false, version: f.team.version + 1 };
        expect(await h.store.commit(off, f.team.version)).toBe(true);
        f.team = off;
      }
      if (variant === "unknown") f.team = { ...f.team, id: objectId() };
      return f;
    }

    for (const c of TABLE) {
      test(c.name, async () => {
        const variants = c.teamScoped ? (["active", "inactive", "unknown"] as const) : (["active"] as const);
        const want: Record<string, Row> = { active: c.active };
        if (c.teamScoped) {
          want.inactive = c.inactive === same ? c.active : c.inactive;
          want.unknown = UNKNOWN;
        }
        const got: Record<string, Partial<Row>> = {};
        for (const variant of variants) {
          got[variant] = {};
          for (const actor of ACTORS) {
            const f = await fixture(c, actor, variant);
            const res = await h.call(c.route.split(" ")[0]!, c.path(f), { as: f.me, body: c.body?.(f) });
            got[variant]![actor] = res.status;
            if (res.status >= 400) expect(res.json?.error?.code).toBeString();
            if (variant === "active" && res.status < 300 && c.effect) c.effect(await h.team(f.team.id), f);
          }
        }
        expect(got).toEqual(want);
      });
    }
  });
}
reportSkippedBackends("route × role matrix");

test("the table has a row for every route the app serves", async () => {
  const h = await createHarness(backends[0]!);
  const served = h.app.routes.map((r) => `${r.method} ${r.path}`).filter((r) => !r.includes("/v1/objects/"));
  await h.close();
  const rows = new Set(TABLE.map((c) => c.route));
  expect(served.filter((r) => !rows.has(r))).toEqual([]);
  expect([...rows].filter((r) => !served.includes(r))).toEqual([]);
});
