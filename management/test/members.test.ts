import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { backends, createHarness, type Harness } from "./harness";

// PROTOCOL §4: `member_count` on every team; members and admins inline up to 1,000 members;
// GET /v1/teams/:id/members pages any team's members with their roles.
for (const backend of backends) {
  describe(`members (${backend.name})`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await createHarness(backend);
    });
    afterAll(() => h.close());

    test("a small team: members and admins inline, and member_count", async () => {
      const S = h.user("s");
      const A = h.user("a");
      const team = await h.seedTeam({ super_admin: S, admins: [A], members: [h.user("u")] });
      const r = await h.call("GET", `/v1/teams/${team.id}`, { as: S });
      expect(r.status).toBe(200);
      expect(r.json.data.member_count).toBe(3);
      expect(r.json.data.members.length).toBe(3);
      expect(r.json.data.admins.sort()).toEqual([A, S].sort());
    });

    test("a team over 1,000 members: no inline lists; pages cover every member once, in order, with roles", async () => {
      const S = h.user("big-s");
      const A = h.user("big-a");
      const users = Array.from({ length: 1_050 }, (_, i) => h.user(`m${String(i).padStart(4, "0")}`));
      const team = await h.seedTeam({ super_admin: S, admins: [A], members: users });
      const one = await h.call("GET", `/v1/teams/${team.id}`, { as: users[7]! });
      expect(one.json.data.member_count).toBe(1_052);
      expect(one.json.data.members).toBeUndefined();
      expect(one.json.data.admins).toBeUndefined();

      const seen: { user_id: string; role: string }[] = [];
      let cursor: string | null = null;
      for (let pages = 0; pages < 20; pages++) {
        const q: string = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : "?limit=100";
        const r = await h.call("GET", `/v1/teams/${team.id}/members${q}`, { as: users[7]! });
        expect(r.status).toBe(200);
        expect(r.json.data.length).toBeLessThanOrEqual(100);
        seen.push(...r.json.data);
        cursor = r.json.next;
        if (cursor === null) break;
      }
      expect(cursor).toBeNull();
      expect(seen.map((m) => m.user_id)).toEqual([S, A, ...users].sort());
      expect(seen.find((m) => m.user_id === S)?.role).toBe("super_admin");
      expect(seen.find((m) => m.user_id === A)?.role).toBe("admin");
      expect(seen.filter((m) => m.role === "user").length).toBe(1_050);
    });

    test("outsiders get 403, bad cursors and limits 400", async () => {
      const S = h.user("s2");
      const team = await h.seedTeam({ super_admin: S });
      expect((await h.call("GET", `/v1/teams/${team.id}/members`, { as: h.user("out") })).status).toBe(403);
      expect((await h.call("GET", `/v1/teams/${team.id}/members?limit=0`, { as: S })).status).toBe(400);
      expect((await h.call("GET", `/v1/teams/${team.id}/members?limit=1001`, { as: S })).status).toBe(400);
      expect((await h.call("GET", `/v1/teams/${team.id}/members?cursor=a%20b`, { as: S })).status).toBe(400);
    });
  });
}
