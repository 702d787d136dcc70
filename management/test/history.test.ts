import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { objectId } from "@chat/common/ids";
import type { StoredMessage } from "@chat/common/message";
import type { Team } from "@chat/common/teams";
import { backends, createHarness, reportSkippedBackends, type Harness } from "./harness";

for (const backend of backends) {
  describe(`history (${backend.name})`, () => {
    let h: Harness;
    let team: Team;
    let A: string, B: string, C: string;
    const all: StoredMessage[] = [];
    beforeAll(async () => {
      // A small page limit, so the configured cap is exercised too.
      h = await createHarness(backend, { env: { LIMIT_HISTORY_PAGE: "7" } });
      [A, B, C] = [h.user("a"), h.user("b"), h.user("c")];
      team = await h.seedTeam({ super_admin: A, members: [B, C] });
      const other = await h.seedTeam({ super_admin: A });
      // seq with gaps; broadcasts, DMs A<->B, B<->C, C<->C, and noise in another team.
      const plan: [string, string][] = [
        [A, "*"], [B, A], [A, B], [B, C], [C, "*"], [C, B], [A, "*"], [B, "*"], [C, A], [B, C],
        [A, B], [C, "*"], [B, A], [A, "*"], [C, C], [B, "*"], [A, C], [C, "*"], [B, A], [A, "*"],
      ];
      plan.forEach(([from, to], i) =>
        all.push({ id: objectId(), channel_id: team.id, seq: 10 + i * 3, from, to, type: "text", data: `m${i}`, ts: new Date(1_700_000_000_000 + i).toISOString() }),
      );
      await h.messages.insertMany([...all].reverse());
      await h.messages.insertMany([{ id: objectId(), channel_id: other.id, seq: 1000, from: A, to: "*", type: "text", data: "elsewhere", ts: new Date().toISOString() }]);
    });
    afterAll(() => h.close());

    const visible = (viewer: string) => all.filter((m) => m.to === "*" || m.to === viewer || m.from === viewer).sort((x, y) => y.seq - x.seq);
    async function pages(viewer: string, limit?: number) {
      const seen: StoredMessage[] = [];
      const nexts: (number | null)[] = [];
      let before: number | null = null;
      do {
        const q = new URLSearchParams();
        if (limit) q.set("limit", String(limit));
        if (before !== null) q.set("before", String(before));
        const r = await h.call("GET", `/v1/teams/${team.id}/messages?${q}`, { as: viewer });
        expect(r.status).toBe(200);
        seen.push(...r.json.data);
        nexts.push(r.json.next);
        before = r.json.next;
      } while (before !== null && nexts.length < 50);
      return { seen, nexts };
    }

    test("newest first, paged by the `before` cursor, each viewer seeing broadcasts and their own DMs only", async () => {
      for (const viewer of [A, B, C]) {
        const { seen, nexts } = await pages(viewer, 3);
        expect(seen).toEqual(visible(viewer));
        expect(nexts.at(-1)).toBeNull();
        expect(nexts.slice(0, -1).every((n) => typeof n === "number")).toBe(true);
      }
      // The B<->C direct messages never reach A.
      const { seen } = await pages(A, 100);
      expect(seen.some((m) => (m.from === B && m.to === C) || (m.from === C && m.to === B))).toBe(false);
      expect(seen.some((m) => m.data === "elsewhere")).toBe(false);
    });

    test("a page is at most LIMIT_HISTORY_PAGE, default 50 capped by it", async () => {
      const r = await h.call("GET", `/v1/teams/${team.id}/messages?limit=100`, { as: B });
      expect(r.json.data.length).toBe(7);
      expect(r.json.next).toBe(r.json.data[6].seq);
      const d = await h.call("GET", `/v1/teams/${team.id}/messages`, { as: B });
      expect(d.json.data).toEqual(r.json.data);
    });

    test("before is exclusive and pages neither repeat nor skip", async () => {
      const pivot = visible(C)[4]!.seq;
      const r = await h.call("GET", `/v1/teams/${team.id}/messages?before=${pivot}&limit=100`, { as: C });
      expect(r.json.data.map((m: StoredMessage) => m.seq)).toEqual(visible(C).filter((m) => m.seq < pivot).slice(0, 7).map((m) => m.seq));
    });

    test("members only: an outsider is 403, an unknown team 404", async () => {
      expect((await h.call("GET", `/v1/teams/${team.id}/messages`, { as: h.user("stranger") })).status).toBe(403);
      expect((await h.call("GET", `/v1/teams/${objectId()}/messages`, { as: A })).status).toBe(404);
    });

    test("a member who left no longer reads the history", async () => {
      const t = await h.seedTeam({ super_admin: A, members: [B] });
      expect((await h.call("POST", `/v1/teams/${t.id}/leave`, { as: B })).status).toBe(200);
      expect((await h.call("GET", `/v1/teams/${t.id}/messages`, { as: B })).status).toBe(403);
    });
  });
}
reportSkippedBackends("history");
