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

    // On the embedded store a real 100,000; FerretDB 1.x scans a collection for every filter but `_id`, so less there.
    const BIG = backend.name === "sqlite" ? 100_000 : 3_000;
    test(`a team of ${BIG.toLocaleString("en")} members: GET /v1/teams/:id stays small, a change and a membership check read no member list`, async () => {
      const S = h.user("huge-s");
      const users = Array.from({ length: BIG - 1 }, (_, i) => h.user(`h${i}`));
      const team = await h.seedTeam({ super_admin: S, members: users });
      const one = await h.call("GET", `/v1/teams/${team.id}`, { as: users[BIG - 2]! });
      expect([one.status, one.json.data.member_count, one.json.data.members]).toEqual([200, BIG, undefined]);
      expect(one.text.length).toBeLessThanOrEqual(10 * 1024);
      // Every path below would fail or miscount if it worked from a partial list.
      const X = h.user("huge-new");
      const add = await h.call("POST", `/v1/teams/${team.id}/members`, { as: S, body: { user_id: X } });
      expect([add.status, add.json.data.member_count, add.text.length <= 10 * 1024]).toEqual([201, BIG + 1, true]);
      expect((await h.call("POST", `/v1/teams/${team.id}/members`, { as: S, body: { user_id: users[BIG - 3]! } })).status).toBe(409);
      expect((await h.call("GET", `/v1/teams/${team.id}/messages`, { as: X })).status).toBe(200);
      const gone = await h.call("DELETE", `/v1/teams/${team.id}/members/${encodeURIComponent(users[0]!)}`, { as: S });
      expect([gone.status, gone.json.data.member_count]).toEqual([200, BIG]);
      expect((await h.call("GET", `/v1/teams/${team.id}`, { as: users[0]! })).status).toBe(403);
      const last = await h.call("GET", `/v1/teams/${team.id}/members?cursor=${encodeURIComponent(users[BIG - 2]!)}`, { as: X });
      expect(last.status).toBe(200);
    }, 120_000);

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
