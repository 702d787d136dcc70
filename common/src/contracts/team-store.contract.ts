import { describe, expect, test } from "bun:test";
import { tracked } from "./tracked";
import { AppError } from "../errors";
import { objectId } from "../ids";
import { allMembers, changeTeam, createTeam, getTeam, memberPage, rolesOf, settle } from "../membership";
import type { TeamStore } from "../ports";
import { newTeam, type Team, type TeamOp } from "../teams";

/** Every member with their role, through the paging path. */
async function everyone(s: TeamStore, id: string): Promise<Map<string, string>> {
  const team = (await getTeam(s, id))!;
  const out = new Map<string, string>();
  for await (const page of allMembers(s, team, 7)) for (const r of page) out.set(r.user_id, r.role);
  return out;
}

/** The invariants PROTOCOL §4 promises under concurrency, checked on the stored rows and header. */
async function invariants(s: TeamStore, id: string): Promise<string[]> {
  const team = (await getTeam(s, id))!;
  const members = await everyone(s, id);
  const bad: string[] = [];
  if (team.member_count !== members.size) bad.push(`member_count ${team.member_count} but ${members.size} rows`);
  if (members.size > 0 && members.get(team.super_admin) !== "super_admin") bad.push(`super_admin ${team.super_admin} is ${members.get(team.super_admin)}`);
  if (members.size === 0 && team.active) bad.push("an active team without members");
  return bad;
}

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (err: unknown) => (err instanceof AppError ? err.code : String(err)),
  );

export function teamStoreContract(name: string, make: () => Promise<TeamStore>) {
  describe(`TeamStore contract: ${name}`, () => {
    const open = tracked(make);

    test("create writes the header, then the creator's row; a duplicate id is a conflict", async () => {
      const s = await open();
      const t = newTeam(objectId(), "a@x.dev", { name: "Alpha", icon: "https://i/a.png", meta_tags: ["x"] });
      expect(await s.get(t.id)).toBeNull();
      await s.create(t);
      expect(await s.get(t.id)).toEqual(t); // pending until settled
      expect(await rolesOf(s, t, ["a@x.dev"])).toEqual(new Map([["a@x.dev", "super_admin"]])); // the overlay
      expect(await s.rowsOf(t.id, ["a@x.dev"])).toEqual(new Map());
      const settled = await settle(s, t);
      const { pending: _p, ...header } = t;
      expect(await s.get(t.id)).toEqual(header);
      expect(settled).toEqual(header);
      expect(await s.rowsOf(t.id, ["a@x.dev", "b@x.dev"])).toEqual(new Map([["a@x.dev", "admin"]]));
      await expect(s.create(t)).rejects.toThrow(AppError);
      expect(await s.get(objectId())).toBeNull();
    });

    test("commit is conditional on version: exactly one of two racing writers wins", async () => {
      const s = await open();
      const t = await createTeam(s, newTeam(objectId(), "a@x.dev", { name: "Race" }));
      const one = { ...t, name: "One", version: t.version + 1 };
      const two = { ...t, name: "Two", version: t.version + 1, pending: [{ user: "c@x.dev", role: "user" as const }] };
      const results = await Promise.all([s.commit(one, t.version), s.commit(two, t.version)]);
      expect(results.filter(Boolean).length).toBe(1);
      const stored = (await s.get(t.id))!;
      expect(stored).toEqual(results[0] ? one : two);
      expect(await s.commit({ ...t, version: t.version + 2 }, t.version)).toBe(false);
    });

    test("clearPending drops the marker only at its version", async () => {
      const s = await open();
      const t = newTeam(objectId(), "a@x.dev", { name: "P" });
      await s.create(t);
      await s.clearPending(t.id, t.version + 1);
      expect((await s.get(t.id))!.pending).toEqual(t.pending);
      await s.clearPending(t.id, t.version);
      expect((await s.get(t.id))!.pending).toBeUndefined();
    });

    test("writeRows: rows only move forward by stamp, and a tombstone keeps a late writer from resurrecting a member", async () => {
      const s = await open();
      const id = objectId();
      await s.writeRows(id, 5, [{ user: "u@x.dev", role: "user" }, { user: "v@x.dev", role: "admin" }]);
      await s.writeRows(id, 5, [{ user: "u@x.dev", role: "user" }]); // the same change again
      await s.writeRows(id, 6, [{ user: "u@x.dev", role: "none" }]);
      await s.writeRows(id, 5, [{ user: "u@x.dev", role: "user" }, { user: "v@x.dev", role: "user" }]); // late, older
      await s.writeRows(id, 4, [{ user: "w@x.dev", role: "user" }]); // a first write at any stamp lands
      expect(await s.rowsOf(id, ["u@x.dev", "v@x.dev", "w@x.dev", "x@x.dev"])).toEqual(
        new Map([
          ["u@x.dev", "none"],
          ["v@x.dev", "admin"],
          ["w@x.dev", "user"],
        ]),
      );
      await s.writeRows(id, 7, [{ user: "u@x.dev", role: "admin" }]);
      expect((await s.rowsOf(id, ["u@x.dev"])).get("u@x.dev")).toBe("admin");
      // Other teams' rows are their own.
      expect(await s.rowsOf(objectId(), ["u@x.dev"])).toEqual(new Map());
    });

    test("memberRows pages one team's members by user id, tombstones left out", async () => {
      const s = await open();
      const id = objectId();
      const users = Array.from({ length: 25 }, (_, i) => `m${String(i).padStart(2, "0")}@x.dev`);
      await s.writeRows(id, 1, users.map((user, i) => ({ user, role: i % 5 === 0 ? "admin" : "user" })));
      await s.writeRows(id, 2, [{ user: users[3]!, role: "none" }]);
      await s.writeRows(objectId(), 1, [{ user: "m10b@x.dev", role: "user" }]);
      const expected = users.filter((_, i) => i !== 3);
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await s.memberRows(id, after, 6);
        seen.push(...page.map((r) => r.user));
        if (page.length < 6) break;
        after = page[page.length - 1]!.user;
      }
      expect(seen).toEqual(expected);
      expect((await s.memberRows(id, undefined, 2)).map((r) => r.role)).toEqual(["admin", "user"]);
      expect(await s.memberRows(id, "m99", 10)).toEqual([]);
      expect(await s.memberRows(id, undefined, 0)).toEqual([]);
    });

    test("listForUser filters by membership, name substring and tag, pages by id", async () => {
      const s = await open();
      const user = `u${objectId()}@x.dev`;
      const teams = [
        newTeam(objectId(), user, { name: "Rocket Science", meta_tags: ["space"] }),
        newTeam(objectId(), user, { name: "rocket league", meta_tags: ["games"] }),
        newTeam(objectId(), user, { name: "Gardening 100%", meta_tags: ["space", "green"] }),
        newTeam(objectId(), "someone@else", { name: "Rocket Other" }),
      ];
      for (const t of teams) await createTeam(s, t);
      const ids = (ts: { id: string }[]) => ts.map((t) => t.id);
      expect(ids(await s.listForUser(user, { limit: 10 }))).toEqual(teams.slice(0, 3).map((t) => t.id));
      expect(ids(await s.listForUser(user, { q: "ROCKET", limit: 10 }))).toEqual([teams[0]!.id, teams[1]!.id]);
      expect(ids(await s.listForUser(user, { tag: "space", limit: 10 }))).toEqual([teams[0]!.id, teams[2]!.id]);
      expect(ids(await s.listForUser(user, { q: "100%", limit: 10 }))).toEqual([teams[2]!.id]);
      expect(ids(await s.listForUser(user, { q: ".*", limit: 10 }))).toEqual([]);
      const page1 = await s.listForUser(user, { limit: 2 });
      const page2 = await s.listForUser(user, { limit: 2, after: page1[1]!.id });
      expect(ids([...page1, ...page2])).toEqual(teams.slice(0, 3).map((t) => t.id));
      expect((await s.listForUser(user, { limit: 10 }))[0]).toMatchObject({ member_count: 1, super_admin: user });
      // Leaving takes the team out of the list.
      await changeTeam(s, teams[1]!.id, "someone@else", { op: "add_member", user: "x@x.dev" }).catch(() => undefined);
      await changeTeam(s, teams[0]!.id, user, { op: "add_member", user: "b@x.dev" });
      await changeTeam(s, teams[0]!.id, user, { op: "leave", successor: "b@x.dev" });
      expect(ids(await s.listForUser(user, { limit: 10 }))).toEqual([teams[1]!.id, teams[2]!.id]);
    });

    test("channelsOf lists active teams only and follows membership changes", async () => {
      const s = await open();
      const user = `v${objectId()}@x.dev`;
      const a = await createTeam(s, newTeam(objectId(), "owner@x.dev", { name: "A" }));
      expect(await s.channelsOf(user)).toEqual([]);
      await changeTeam(s, a.id, "owner@x.dev", { op: "add_member", user });
      expect(await s.channelsOf(user)).toEqual([a.id]);
      await changeTeam(s, a.id, "owner@x.dev", { op: "remove_member", user });
      expect(await s.channelsOf(user)).toEqual([]);
      await changeTeam(s, a.id, "owner@x.dev", { op: "add_member", user });
      await changeTeam(s, a.id, "owner@x.dev", { op: "deactivate" });
      expect(await s.channelsOf(user)).toEqual([]);
    });

    test("changeTeam keeps member_count exact and writes one row per change", async () => {
      const s = await open();
      const S = "s@x.dev";
      const t = await createTeam(s, newTeam(objectId(), S, { name: "Count" }));
      for (let i = 0; i < 30; i++) await changeTeam(s, t.id, S, { op: "add_member", user: `c${i}@x.dev` });
      for (let i = 0; i < 30; i += 3) await changeTeam(s, t.id, S, { op: "remove_member", user: `c${i}@x.dev` });
      await changeTeam(s, t.id, S, { op: "add_admin", user: "c1@x.dev" });
      await expect(changeTeam(s, t.id, S, { op: "add_member", user: "c1@x.dev" })).rejects.toMatchObject({ code: "conflict" });
      await changeTeam(s, t.id, S, { op: "add_member", user: "c0@x.dev" }); // back after a removal
      const team = (await getTeam(s, t.id))!;
      expect(team.member_count).toBe(1 + 30 - 10 + 1);
      expect(await invariants(s, t.id)).toEqual([]);
      // By user id as strings: "c10@" sorts before "c1@".
      expect((await memberPage(s, team, undefined, 3)).rows).toEqual([
        { user_id: "c0@x.dev", role: "user" },
        { user_id: "c10@x.dev", role: "user" },
        { user_id: "c11@x.dev", role: "user" },
      ]);
      expect((await memberPage(s, team, "c19@x.dev", 2)).rows).toEqual([
        { user_id: "c1@x.dev", role: "admin" },
        { user_id: "c20@x.dev", role: "user" },
      ]);
    });

    test("two admins at once: an admin never removes a member the super_admin just made admin", async () => {
      const s = await open();
      const [S, A, T] = ["s@x.dev", "a@x.dev", "t@x.dev"];
      for (let round = 0; round < 10; round++) {
        const t = await createTeam(s, newTeam(objectId(), S, { name: "Elect" }));
        await changeTeam(s, t.id, S, { op: "add_member", user: A });
        await changeTeam(s, t.id, S, { op: "add_admin", user: A });
        await changeTeam(s, t.id, S, { op: "add_member", user: T });
        const [elect, remove] = await Promise.all([
          outcome(changeTeam(s, t.id, S, { op: "add_admin", user: T })),
          outcome(changeTeam(s, t.id, A, { op: "remove_member", user: T })),
        ]);
        const members = await everyone(s, t.id);
        // Either order is fine; an admin removed by an admin is not.
        if (elect === "ok") expect([remove, members.get(T)]).toEqual(["forbidden", "admin"]);
        else expect([elect, remove, members.has(T)]).toEqual(["conflict", "ok", false]);
        expect(await invariants(s, t.id)).toEqual([]);
      }
    });

    test("a leaving super_admin's successor removed at the same moment: the team keeps a super_admin", async () => {
      const s = await open();
      const [S, A, U] = ["s@x.dev", "a@x.dev", "u@x.dev"];
      for (let round = 0; round < 10; round++) {
        const t = await createTeam(s, newTeam(objectId(), S, { name: "Succession" }));
        for (const op of [
          { op: "add_member", user: A },
          { op: "add_admin", user: A },
          { op: "add_member", user: U },
        ] satisfies TeamOp[])
          await changeTeam(s, t.id, S, op);
        const [leave, remove] = await Promise.all([outcome(changeTeam(s, t.id, S, { op: "leave", successor: U })), outcome(changeTeam(s, t.id, A, { op: "remove_member", user: U }))]);
        const team = (await getTeam(s, t.id))!;
        if (leave === "ok") expect([remove, team.super_admin]).toEqual(["forbidden", U]);
        else expect([leave, remove, team.super_admin]).toEqual(["conflict", "ok", S]);
        expect(await invariants(s, t.id)).toEqual([]);
      }
    });

    test("a storm of concurrent changes by three actors leaves a consistent team", async () => {
      const s = await open();
      const [S, A1, A2] = ["s@x.dev", "a1@x.dev", "a2@x.dev"];
      const pool = Array.from({ length: 8 }, (_, i) => `p${i}@x.dev`);
      const t = await createTeam(s, newTeam(objectId(), S, { name: "Storm" }));
      for (const u of [A1, A2, ...pool.slice(0, 3)]) await changeTeam(s, t.id, S, { op: "add_member", user: u });
      for (const u of [A1, A2]) await changeTeam(s, t.id, S, { op: "add_admin", user: u });
      let seed = 7;
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
      const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
      const ops = Array.from({ length: 60 }, () => {
        const actor = pick([S, A1, A2]);
        const target = pick([...pool, A1, A2]);
        const op: TeamOp = pick<TeamOp>([
          { op: "add_member", user: target },
          { op: "remove_member", user: target },
          { op: "add_admin", user: target },
          { op: "remove_admin", user: target },
          { op: "leave", successor: actor === S ? target : undefined },
        ]);
        return outcome(changeTeam(s, t.id, actor, op));
      });
      const results = await Promise.all(ops);
      expect(results.filter((r) => !["ok", "forbidden", "conflict", "not_found"].includes(r))).toEqual([]);
      expect(results).toContain("ok");
      expect(await invariants(s, t.id)).toEqual([]);
    });

    test("a change that crashed after its commit is settled by the next reader, and a late writer of it undoes nothing", async () => {
      const s = await open();
      const S = "s@x.dev";
      const t = await createTeam(s, newTeam(objectId(), S, { name: "Crash" }));
      // The commit of "add b" landed, its row write did not (the process died).
      const crashed: Team = { ...t, version: t.version + 1, member_count: 2, pending: [{ user: "b@x.dev", role: "user" }] };
      expect(await s.commit(crashed, t.version)).toBe(true);
      expect((await rolesOf(s, (await s.get(t.id))!, ["b@x.dev"])).get("b@x.dev")).toBe("user");
      // The next change settles it first, then decides from exact state: b is a member.
      await expect(changeTeam(s, t.id, S, { op: "add_member", user: "b@x.dev" })).rejects.toMatchObject({ code: "conflict" });
      await changeTeam(s, t.id, S, { op: "remove_member", user: "b@x.dev" });
      // The crashed process wakes up and writes its row after all: the tombstone wins.
      await settle(s, crashed);
      expect((await everyone(s, t.id)).has("b@x.dev")).toBe(false);
      expect(await invariants(s, t.id)).toEqual([]);
      expect((await s.get(t.id))!.pending).toBeUndefined();
    });
  });
}
