import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { objectId } from "@chat/common/ids";
import type { LogEntry } from "@chat/common/message";
import { createManagementApp } from "../src/app";
import { backends, createHarness, reportSkippedBackends, type Harness, type Roster } from "./harness";

/** A small seeded PRNG (mulberry32), so a failing interleaving can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function invariants(t: Roster): string[] {
  const bad: string[] = [];
  if (new Set(t.members).size !== t.members.length) bad.push(`duplicate members ${t.members}`);
  if (new Set(t.admins).size !== t.admins.length) bad.push(`duplicate admins ${t.admins}`);
  for (const a of t.admins) if (!t.members.includes(a)) bad.push(`admin ${a} is not a member`);
  if (t.members.length > 0) {
    if (!t.members.includes(t.super_admin)) bad.push(`super_admin ${t.super_admin} is not a member`);
    if (!t.admins.includes(t.super_admin)) bad.push(`super_admin ${t.super_admin} is not an admin`);
  } else if (t.active) bad.push("an active team without members");
  if (t.member_count !== t.members.length) bad.push(`member_count ${t.member_count} but ${t.members.length} members`);
  return bad;
}

const OPS = 200;

for (const backend of backends) {
  describe(`concurrent membership changes (${backend.name})`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await createHarness(backend);
    });
    afterAll(() => h.close());

    /** `OPS` random add/remove/elect/demote/leave requests from two admins and the super_admin, all at once. */
    async function storm(seed: number, handlers: ((r: Request) => Promise<Response>)[]) {
      const random = rng(seed);
      const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
      const [S, A1, A2] = [h.user(`super-${seed}`), h.user(`admin1-${seed}`), h.user(`admin2-${seed}`)];
      const pool = Array.from({ length: 12 }, (_, i) => h.user(`p${i}-${seed}`));
      const team = await h.seedTeam({ super_admin: S, admins: [A1, A2], members: pool.slice(0, 4) });
      const initial = await h.team(team.id);
      const base = `/v1/teams/${team.id}`;
      const everyone = [S, A1, A2, ...pool];

      const requests = Array.from({ length: OPS }, (_, i) => {
        const actor = pick([S, A1, A2]);
        const x = random();
        const kind = x < 0.35 ? "add" : x < 0.6 ? "remove" : x < 0.78 ? "elect" : x < 0.94 ? "demote" : "leave";
        // The three actors drop out (leave, removed) and come back (re-added, elected, named successor).
        const target = kind === "add" || kind === "elect" ? pick(random() < 0.4 ? [S, A1, A2] : pool) : random() < 0.9 ? pick(pool) : pick(everyone);
        const [method, path, body] =
          kind === "add"
            ? ["POST", `${base}/members`, { user_id: target }]
            : kind === "remove"
              ? ["DELETE", `${base}/members/${target}`, undefined]
              : kind === "elect"
                ? ["POST", `${base}/admins`, { user_id: target }]
                : kind === "demote"
                  ? ["DELETE", `${base}/admins/${target}`, undefined]
                  : ["POST", `${base}/leave`, random() < 0.5 ? {} : { successor: pick([S, A1, A2]) }];
        return { i, actor, method, path, body, handle: handlers[i % handlers.length]! };
      });

      const auth = Object.fromEntries(await Promise.all([S, A1, A2].map(async (u) => [u, `Bearer ${await h.token(u)}`])));
      const snapshots: Roster[] = [];
      let running = true;
      const watcher = (async () => {
        while (running) {
          snapshots.push(await h.team(team.id));
          await Bun.sleep(0);
        }
      })();
      const statuses = await Promise.all(
        requests.map(async (r) => {
          const headers: Record<string, string> = { authorization: auth[r.actor]!, "content-type": "application/json" };
          const res = await r.handle(new Request(`http://localhost${r.path}`, { method: r.method, headers, body: r.body && JSON.stringify(r.body) }));
          return res.status;
        }),
      );
      running = false;
      await watcher;
      return { team, statuses, snapshots, initial };
    }

    test(`${OPS} concurrent requests through one app keep every invariant, and the log replays to the stored team`, async () => {
      const { team, statuses, snapshots, initial } = await storm(1, [h.send]);
      expect(statuses.filter((s) => ![200, 201, 403, 404, 409].includes(s))).toEqual([]);
      // How many succeed depends on the interleaving (an early leave or demotion shrinks who may act);
      // the storm only has to change the team many times for the invariants below to mean something.
      expect(statuses.filter((s) => s < 300).length).toBeGreaterThan(5);
      const final = await h.team(team.id);
      expect(snapshots.length).toBeGreaterThan(1);
      for (const t of [...snapshots, final]) expect(invariants(t)).toEqual([]);
      expect(final.version).toBe(initial.version + statuses.filter((s) => s < 300).length);

      // Replaying the published membership events in log order gives the stored membership.
      // Every request has answered, so its events are in the log ahead of a sentinel appended
      // now to the same channel: read until the sentinel.
      const sentinel = JSON.stringify({ kind: "replay-sentinel", id: objectId() });
      await h.log.append([{ channelId: team.id, value: sentinel }]);
      const events: LogEntry[] = [];
      let sawSentinel = false;
      const ac = new AbortController();
      const deadline = setTimeout(() => ac.abort(), 3_000); // within the test timeout, so a missing sentinel fails below
      await h.log.consume({
        group: `replay-${team.id}`,
        signal: ac.signal,
        handle: async (batch) => {
          for (const r of batch) {
            if (r.channelId !== team.id || sawSentinel) continue;
            if (r.value === sentinel) sawSentinel = true;
            else events.push(JSON.parse(r.value) as LogEntry);
          }
          if (sawSentinel) ac.abort();
        },
      });
      clearTimeout(deadline);
      expect(sawSentinel).toBe(true);
      const members = new Set(initial.members);
      const admins = new Set(initial.admins);
      for (const e of events) {
        if (e.kind === "member_joined") members.add(e.user);
        else if (e.kind === "member_left") (members.delete(e.user), admins.delete(e.user));
        else if (e.kind === "admin_added") admins.add(e.user);
        else if (e.kind === "admin_removed") admins.delete(e.user);
      }
      expect([...members].sort()).toEqual([...final.members].sort());
      expect([...admins].sort()).toEqual([...final.admins].sort());
    });

    test(`${OPS} concurrent requests through two apps on one store (two processes' worth of races) keep every invariant`, async () => {
      const second = createManagementApp({
        config: h.config,
        verify: (await import("@chat/common/auth")).createVerifier(h.config.auth),
        teams: h.store,
        messages: h.store,
        log: h.log,
        logger: h.logger,
        metrics: h.metrics,
        checks: {},
      });
      for (const seed of [2, 3]) {
        const { team, statuses, snapshots } = await storm(seed, [h.send, (r) => second.handle(r)]);
        expect(statuses.filter((s) => ![200, 201, 403, 404, 409].includes(s))).toEqual([]);
        const final = await h.team(team.id);
        for (const t of [...snapshots, final]) expect(invariants(t)).toEqual([]);
        // Every successful request is exactly one version step: no lost or doubled write.
        expect(final.version - team.version).toBe(statuses.filter((s) => s < 300).length);
      }
    });
  });
}
reportSkippedBackends("concurrent membership changes");
