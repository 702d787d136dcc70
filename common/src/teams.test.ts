import { describe, expect, test } from "bun:test";
import { AppError, type ErrorCode } from "./errors";
import { applyTeamOp as applyHeader, newTeam, roleFrom, teamView, usersOf, type MemberRole, type Role, type RowWrite, type Team, type TeamOp } from "./teams";

const S = "super@x.dev";
const A = "admin@x.dev";
const A2 = "admin2@x.dev";
const U = "user@x.dev";
const U2 = "user2@x.dev";
const N = "outsider@x.dev";
const NOW = new Date("2026-11-25T06:00:00.000Z");

/** A header with its member lists, as a store would hold it in rows: what these tests reason about. */
type Whole = Team & { members: string[]; admins: string[] };

/** S super_admin; A, A2 admins; U, U2 users. */
function team(over: Partial<Whole> = {}): Whole {
  const { pending: _p, ...t } = newTeam("507f191e810c19729de860ea", S, { name: "Team", meta_tags: ["a"] }, NOW);
  const whole: Whole = { ...t, admins: [S, A, A2], members: [S, A, A2, U, U2], ...over };
  return { ...whole, member_count: whole.members.length };
}

const rowOf = (t: Whole, u: string): MemberRole | undefined => (t.admins.includes(u) ? "admin" : t.members.includes(u) ? "user" : undefined);
const roleOf = (t: Whole, u: string): Role => roleFrom(t, u, rowOf(t, u));

/** `applyTeamOp` with only the roles it asks for (usersOf), its row writes applied to the lists. */
function applyTeamOp(t: Whole, actor: string, op: TeamOp, now: Date) {
  const roles = new Map(usersOf(actor, op).map((u) => [u, roleOf(t, u)]));
  const { team: header, rows, events } = applyHeader(t, actor, roles, op, now);
  const { members: _m, admins: _a, ...next } = header as Whole;
  const members = t.members.filter((u) => !rows.some((r) => r.user === u && r.role === "none"));
  for (const r of rows) if (r.role !== "none" && !members.includes(r.user)) members.push(r.user);
  const admins = members.filter((u) => {
    const w = rows.find((r: RowWrite) => r.user === u);
    return w ? w.role === "admin" : t.admins.includes(u);
  });
  const whole: Whole = { ...next, members, admins };
  if (header.member_count !== members.length) throw new Error(`member_count ${header.member_count} but ${members.length} members`);
  return { team: header === t ? t : whole, rows, events };
}

function fails(t: Whole, actor: string, op: TeamOp): ErrorCode {
  try {
    applyTeamOp(t, actor, op, NOW);
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
  throw new Error(`${actor} ${JSON.stringify(op)} was allowed`);
}

describe("roles", () => {
  test("roleFrom: super_admin, admin, user, none — membership first", () => {
    const t = team();
    expect([S, A, U, N].map((u) => roleOf(t, u))).toEqual(["super_admin", "admin", "user", "none"]);
    // A super_admin who left as the last member keeps the field but no role.
    expect(roleFrom(t, S, "none")).toBe("none");
    expect(roleFrom(t, S, undefined)).toBe("none");
  });

  test("newTeam: the creator is super_admin and its only member, written as a pending admin row; tags deduplicated; version 1", () => {
    const t = newTeam("507f191e810c19729de860ea", S, { name: "N", icon: "https://i", meta_tags: ["x", "x", "y"] }, NOW);
    expect(t).toEqual({
      id: "507f191e810c19729de860ea",
      name: "N",
      icon: "https://i",
      active: true,
      meta_tags: ["x", "y"],
      super_admin: S,
      doc: NOW.toISOString(),
      member_count: 1,
      version: 1,
      pending: [{ user: S, role: "admin" }],
    });
    expect(["version" in teamView(t), "pending" in teamView(t)]).toEqual([false, false]);
  });

  test("teamView: members and admins inline only when given and the team is small", () => {
    const { members: _m, admins: _a, ...t } = team();
    const rows = [
      { user_id: A, role: "admin" as const },
      { user_id: S, role: "super_admin" as const },
      { user_id: U, role: "user" as const },
    ];
    expect(teamView(t, rows)).toMatchObject({ members: [A, S, U], admins: [A, S], member_count: 5 });
    expect("members" in teamView(t)).toBe(false);
    expect("members" in teamView({ ...t, member_count: 1001 }, rows)).toBe(false);
  });

  test("usersOf: the actor, the target and the successor, once each", () => {
    expect(usersOf(A, { op: "add_member", user: U })).toEqual([A, U]);
    expect(usersOf(S, { op: "leave", successor: U })).toEqual([S, U]);
    expect(usersOf(S, { op: "leave" })).toEqual([S]);
    expect(usersOf(A, { op: "remove_member", user: A })).toEqual([A]);
    expect(usersOf(A, { op: "update", patch: {} })).toEqual([A]);
  });

  test("a non-member can do nothing", () => {
    const ops: TeamOp[] = [
      { op: "add_member", user: "z@x.dev" },
      { op: "remove_member", user: U },
      { op: "add_admin", user: U },
      { op: "remove_admin", user: A },
      { op: "leave" },
      { op: "deactivate" },
      { op: "update", patch: { name: "x" } },
    ];
    for (const op of ops) expect(fails(team(), N, op)).toBe("forbidden");
  });

  test("the input is never mutated and every change bumps the version once", () => {
    const t = team();
    const frozen = structuredClone(t);
    const { team: next } = applyTeamOp(t, A, { op: "add_member", user: "z@x.dev" }, NOW);
    expect(t).toEqual(frozen);
    expect(next.version).toBe(t.version + 1);
  });

  test("a change writes at most the target's and the successor's rows, never a member list", () => {
    expect(applyTeamOp(team(), A, { op: "add_member", user: "z@x.dev" }, NOW).rows).toEqual([{ user: "z@x.dev", role: "user" }]);
    expect(applyTeamOp(team(), S, { op: "leave", successor: U }, NOW).rows).toEqual([
      { user: U, role: "admin" },
      { user: S, role: "none" },
    ]);
    expect(applyTeamOp(team(), A, { op: "update", patch: { name: "x" } }, NOW).rows).toEqual([]);
  });
});

describe("add_member", () => {
  test("admins and the super_admin add at user level, with a member_joined event", () => {
    for (const actor of [A, S]) {
      const { team: t, events } = applyTeamOp(team(), actor, { op: "add_member", user: "z@x.dev" }, NOW);
      expect(t.members).toContain("z@x.dev");
      expect(t.admins).not.toContain("z@x.dev");
      expect(events).toEqual([{ kind: "member_joined", channel_id: t.id, user: "z@x.dev", by: actor, ts: NOW.toISOString() }]);
    }
  });
  test("users may not; an existing member is a conflict; an inactive team is a conflict", () => {
    expect(fails(team(), U, { op: "add_member", user: "z@x.dev" })).toBe("forbidden");
    for (const existing of [S, A, U2]) expect(fails(team(), A, { op: "add_member", user: existing })).toBe("conflict");
    expect(fails(team({ active: false }), A, { op: "add_member", user: "z@x.dev" })).toBe("conflict");
    expect(fails(team({ active: false }), U, { op: "add_member", user: "z@x.dev" })).toBe("forbidden");
  });
});

describe("remove_member", () => {
  test("an admin removes user-level members only", () => {
    const { team: t, events } = applyTeamOp(team(), A, { op: "remove_member", user: U }, NOW);
    expect(t.members).not.toContain(U);
    expect(events.map((e) => e.kind)).toEqual(["member_left"]);
    expect(fails(team(), A, { op: "remove_member", user: A2 })).toBe("forbidden");
    expect(fails(team(), A, { op: "remove_member", user: S })).toBe("forbidden");
  });
  test("the super_admin removes anyone but self; a removed admin loses the role too", () => {
    const { team: t } = applyTeamOp(team(), S, { op: "remove_member", user: A }, NOW);
    expect([t.members.includes(A), t.admins.includes(A)]).toEqual([false, false]);
    expect(fails(team(), S, { op: "remove_member", user: S })).toBe("forbidden");
  });
  test("users may not, nobody removes themselves, a non-member is not found, inactive is a conflict", () => {
    expect(fails(team(), U, { op: "remove_member", user: U2 })).toBe("forbidden");
    expect(fails(team(), A, { op: "remove_member", user: A })).toBe("forbidden");
    expect(fails(team(), A, { op: "remove_member", user: N })).toBe("not_found");
    expect(fails(team(), S, { op: "remove_member", user: N })).toBe("not_found");
    expect(fails(team({ active: false }), A, { op: "remove_member", user: U })).toBe("conflict");
    expect(fails(team({ active: false }), A, { op: "remove_member", user: N })).toBe("conflict");
    // Permission is decided before state: an admin may never remove an admin, active or not.
    expect(fails(team({ active: false }), A, { op: "remove_member", user: A2 })).toBe("forbidden");
  });
});

describe("add_admin / remove_admin", () => {
  test("only the super_admin elects, and only members who are not admins yet", () => {
    const { team: t, events } = applyTeamOp(team(), S, { op: "add_admin", user: U }, NOW);
    expect(t.admins).toContain(U);
    expect(events.map((e) => e.kind)).toEqual(["admin_added"]);
    expect(fails(team(), A, { op: "add_admin", user: U })).toBe("forbidden");
    expect(fails(team(), U, { op: "add_admin", user: U2 })).toBe("forbidden");
    expect(fails(team(), S, { op: "add_admin", user: N })).toBe("conflict");
    expect(fails(team(), S, { op: "add_admin", user: A })).toBe("conflict");
    expect(fails(team(), S, { op: "add_admin", user: S })).toBe("conflict");
    expect(fails(team({ active: false }), S, { op: "add_admin", user: U })).toBe("conflict");
  });
  test("only the super_admin demotes; back to user level; not the super_admin; not a non-admin", () => {
    const { team: t, events } = applyTeamOp(team(), S, { op: "remove_admin", user: A }, NOW);
    expect([t.members.includes(A), t.admins.includes(A)]).toEqual([true, false]);
    expect(events.map((e) => e.kind)).toEqual(["admin_removed"]);
    expect(fails(team(), A, { op: "remove_admin", user: A2 })).toBe("forbidden");
    expect(fails(team(), S, { op: "remove_admin", user: S })).toBe("conflict");
    expect(fails(team(), S, { op: "remove_admin", user: U })).toBe("not_found");
    expect(fails(team(), S, { op: "remove_admin", user: N })).toBe("not_found");
    expect(fails(team({ active: false }), S, { op: "remove_admin", user: A })).toBe("conflict");
  });
});

describe("leave", () => {
  test("users and admins leave without a successor, losing every role", () => {
    for (const actor of [U, A]) {
      const { team: t, events } = applyTeamOp(team(), actor, { op: "leave" }, NOW);
      expect([t.members.includes(actor), t.admins.includes(actor), t.super_admin]).toEqual([false, false, S]);
      expect(events.map((e) => e.kind)).toEqual(["member_left"]);
    }
    expect(fails(team(), U, { op: "leave", successor: U2 })).toBe("conflict");
  });
  test("the super_admin names a member as successor, who becomes super_admin and admin", () => {
    const { team: t, events } = applyTeamOp(team(), S, { op: "leave", successor: U }, NOW);
    expect([t.super_admin, t.admins.includes(U), t.members.includes(S), t.admins.includes(S), t.active]).toEqual([U, true, false, false, true]);
    expect(events.map((e) => [e.kind, "user" in e ? e.user : ""])).toEqual([
      ["admin_added", U],
      ["member_left", S],
    ]);
    // An admin successor is not announced as added again.
    expect(applyTeamOp(team(), S, { op: "leave", successor: A }, NOW).events.map((e) => e.kind)).toEqual(["member_left"]);
  });
  test("the super_admin without a valid successor is a conflict", () => {
    expect(fails(team(), S, { op: "leave" })).toBe("conflict");
    expect(fails(team(), S, { op: "leave", successor: N })).toBe("conflict");
    expect(fails(team(), S, { op: "leave", successor: S })).toBe("conflict");
  });
  test("the last member leaving deactivates the team", () => {
    const alone = team({ members: [S], admins: [S] });
    const { team: t, events } = applyTeamOp(alone, S, { op: "leave" }, NOW);
    expect([t.active, t.members, t.admins, t.member_count]).toEqual([false, [], [], 0]);
    expect(events.map((e) => e.kind)).toEqual(["team_updated", "member_left"]);
  });
  test("nobody leaves an inactive team", () => {
    for (const actor of [U, A, S]) expect(fails(team({ active: false }), actor, { op: "leave", successor: actor === S ? U : undefined })).toBe("conflict");
  });
});

describe("deactivate and update", () => {
  test("only the super_admin deactivates; again is a no-op", () => {
    const { team: t, events } = applyTeamOp(team(), S, { op: "deactivate" }, NOW);
    expect(t.active).toBe(false);
    expect(events).toEqual([{ kind: "team_updated", channel_id: t.id, active: false, ts: NOW.toISOString() }]);
    expect(fails(team(), A, { op: "deactivate" })).toBe("forbidden");
    expect(fails(team(), U, { op: "deactivate" })).toBe("forbidden");
    const again = applyTeamOp(t, S, { op: "deactivate" }, NOW);
    expect([again.team, again.events]).toEqual([t, []]);
  });
  test("admins and the super_admin edit name, icon and tags (deduplicated) of an active team", () => {
    for (const actor of [A, S]) {
      const { team: t, events } = applyTeamOp(team(), actor, { op: "update", patch: { name: "New", icon: "https://i/x.png", meta_tags: ["b", "b", "c"] } }, NOW);
      expect([t.name, t.icon, t.meta_tags, events]).toEqual(["New", "https://i/x.png", ["b", "c"], []]);
    }
    const { team: partial } = applyTeamOp(team(), A, { op: "update", patch: { icon: "https://i/y.png" } }, NOW);
    expect([partial.name, partial.meta_tags]).toEqual(["Team", ["a"]]);
    expect(fails(team(), U, { op: "update", patch: { name: "x" } })).toBe("forbidden");
    expect(fails(team({ active: false }), A, { op: "update", patch: { name: "x" } })).toBe("conflict");
  });
});
