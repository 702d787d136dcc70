import { describe, expect, test } from "bun:test";
import { tracked } from "./tracked";
import { objectId } from "../ids";
import type { TeamStore } from "../ports";
import { applyTeamOp, newTeam } from "../teams";

export function teamStoreContract(name: string, make: () => Promise<TeamStore>) {
  describe(`TeamStore contract: ${name}`, () => {
    const open = tracked(make);

    test("create then get round-trips the document; a duplicate id is a conflict", async () => {
      const s = await open();
      const t = newTeam(objectId(), "a@x.dev", { name: "Alpha", icon: "https://i/a.png", meta_tags: ["x"] });
      await s.create(t);
      expect(await s.get(t.id)).toEqual(t);
      await expect(s.create(t)).rejects.toThrow();
      expect(await s.get(objectId())).toBeNull();
    });

    test("replace is conditional on version: exactly one of two racing writers wins", async () => {
      const s = await open();
      const t = newTeam(objectId(), "a@x.dev", { name: "Race" });
      await s.create(t);
      const one = applyTeamOp(t, "a@x.dev", { op: "add_member", user: "b@x.dev" }).team;
      const two = applyTeamOp(t, "a@x.dev", { op: "add_member", user: "c@x.dev" }).team;
      const results = await Promise.all([s.replace(one, t.version), s.replace(two, t.version)]);
      expect(results.filter(Boolean).length).toBe(1);
      const stored = (await s.get(t.id))!;
      expect(stored.version).toBe(t.version + 1);
      expect(stored.members.length).toBe(2);
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
      for (const t of teams) await s.create(t);
      const ids = (ts: { id: string }[]) => ts.map((t) => t.id);
      expect(ids(await s.listForUser(user, { limit: 10 }))).toEqual(teams.slice(0, 3).map((t) => t.id));
      expect(ids(await s.listForUser(user, { q: "ROCKET", limit: 10 }))).toEqual([teams[0]!.id, teams[1]!.id]);
      expect(ids(await s.listForUser(user, { tag: "space", limit: 10 }))).toEqual([teams[0]!.id, teams[2]!.id]);
      expect(ids(await s.listForUser(user, { q: "100%", limit: 10 }))).toEqual([teams[2]!.id]);
      expect(ids(await s.listForUser(user, { q: ".*", limit: 10 }))).toEqual([]);
      const page1 = await s.listForUser(user, { limit: 2 });
      const page2 = await s.listForUser(user, { limit: 2, after: page1[1]!.id });
      expect(ids([...page1, ...page2])).toEqual(teams.slice(0, 3).map((t) => t.id));
    });

    test("channelsOf lists active teams only and follows membership changes", async () => {
      const s = await open();
      const user = `v${objectId()}@x.dev`;
      const a = newTeam(objectId(), "owner@x.dev", { name: "A" });
      await s.create(a);
      expect(await s.channelsOf(user)).toEqual([]);
      const joined = applyTeamOp(a, "owner@x.dev", { op: "add_member", user }).team;
      expect(await s.replace(joined, a.version)).toBe(true);
      expect(await s.channelsOf(user)).toEqual([a.id]);
      const off = applyTeamOp(joined, "owner@x.dev", { op: "deactivate" }).team;
      expect(await s.replace(off, joined.version)).toBe(true);
      expect(await s.channelsOf(user)).toEqual([]);
    });
  });
}
