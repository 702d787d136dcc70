// Team membership over the TeamStore port, without transactions (FerretDB has none).
//
// State: a header per team (name, active, super_admin, member_count, version, pending?) and one
// row per (team, user) with a role (user | admin | none) and a stamp (the version that wrote it).
//
// A change: (1) read the header at version v and settle it — write its `pending` rows, so the
// rows hold every change up to v; (2) read the rows of the users involved; (3) decide with the
// pure `applyTeamOp`; (4) commit the new header (version v+1, member_count, its rows as `pending`)
// with one write conditional on version v: the linearization point — of two racing changes one
// commits, the other re-reads and decides again; (5) write the rows stamped v+1, drop `pending`.
//
// Why it stays correct under concurrency and crashes:
// - A decision commits only if no other change committed after the header it read; the rows it
//   read held every change up to that header (step 1), so it decided from exact state.
// - member_count moves in the same single-document write as the version, from a decision made
//   on exact state, so it is exact; no separate $inc can be lost or doubled by a crash.
// - A crash after (4) leaves `pending` on the header: the next change or read settles it, and
//   until then readers overlay it (rolesOf). Row writes are idempotent and stamped: a writer
//   holding an older pending never overwrites a row a newer change wrote. Removal writes a `none`
//   tombstone rather than deleting, so a late re-write of an older add cannot resurrect a member.
import { AppError } from "./errors";
import type { TeamStore } from "./ports";
import { applyTeamOp, INLINE_MEMBERS, roleFrom, usersOf, type MemberRow, type Role, type Team, type TeamChange, type TeamOp } from "./teams";

const MAX_ATTEMPTS = 16;

/** Writes the rows of the header's pending change (idempotent) and drops the marker. */
export async function settle(store: TeamStore, team: Team): Promise<Team> {
  if (!team.pending) return team;
  await store.writeRows(team.id, team.version, team.pending);
  await store.clearPending(team.id, team.version);
  const { pending: _p, ...rest } = team;
  return rest;
}

/** The team's header with its rows settled, or null. */
export async function getTeam(store: TeamStore, id: string): Promise<Team | null> {
  const team = await store.get(id);
  return team && settle(store, team);
}

/** A new team: the header, then its creator's row; on disk when this resolves. */
export async function createTeam(store: TeamStore, team: Team): Promise<Team> {
  await store.create(team);
  const settled = await settle(store, team);
  await store.synced({ now: true });
  return settled;
}

/** Roles of `users` as of the header's version: the stored rows with the pending change over them. */
export async function rolesOf(store: TeamStore, team: Team, users: string[]): Promise<Map<string, Role>> {
  const rows = await store.rowsOf(team.id, users);
  for (const w of team.pending ?? []) if (users.includes(w.user)) rows.set(w.user, w.role);
  return new Map(users.map((u) => [u, roleFrom(team, u, rows.get(u))]));
}

export async function roleOf(store: TeamStore, team: Team, user: string): Promise<Role> {
  return (await rolesOf(store, team, [user])).get(user)!;
}

/** One change, decided and committed as described above (on disk when this resolves); retried when another change won the race. */
export async function changeTeam(store: TeamStore, id: string, actor: string, op: TeamOp, now?: Date): Promise<TeamChange> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const team = await getTeam(store, id);
    if (!team) throw new AppError("not_found", "no such team");
    const change = applyTeamOp(team, actor, await rolesOf(store, team, usersOf(actor, op)), op, now);
    if (change.team === team) {
      await store.synced({ now: true }); // decided on state another change may have written and not yet synced
      return change;
    }
    const next: Team = change.rows.length ? { ...change.team, pending: change.rows } : change.team;
    if (!(await store.commit(next, team.version))) continue;
    const settled = await settle(store, next);
    await store.synced({ now: true }); // answered only once a power loss could not undo it
    return { ...change, team: settled };
  }
  throw new AppError("unavailable", "team is being changed concurrently, retry");
}

/** A page of a team's members in user-id order after `cursor`, and the next cursor or null. */
export async function memberPage(store: TeamStore, team: Team, cursor: string | undefined, limit: number): Promise<{ rows: MemberRow[]; next: string | null }> {
  const got = await store.memberRows(team.id, cursor, limit + 1);
  const rows = got.slice(0, limit).map((r) => ({ user_id: r.user, role: roleFrom(team, r.user, r.role) as MemberRow["role"] }));
  return { rows, next: got.length > limit ? rows[rows.length - 1]!.user_id : null };
}

/** Every member of a team of at most INLINE_MEMBERS (PROTOCOL §4), else undefined: never more than one bounded read. */
export async function inlineMembers(store: TeamStore, team: Team): Promise<MemberRow[] | undefined> {
  if (team.member_count > INLINE_MEMBERS) return undefined;
  const { rows, next } = await memberPage(store, team, undefined, INLINE_MEMBERS);
  return next === null ? rows : undefined;
}

/**
 * The team and its members inline (PROTOCOL §4) as of one version: a change committed while the rows
 * were read (they may hold its writes already) makes it read again from the newer header. Rows
 * are written only after their header commits, so an unchanged version means the rows are exact.
 */
export async function teamWithMembers(store: TeamStore, team: Team): Promise<{ team: Team; members: MemberRow[] | undefined }> {
  for (let attempt = 0; ; attempt++) {
    const members = await inlineMembers(store, team);
    if (members === undefined) return { team, members };
    const now = await store.get(team.id);
    if (!now || now.version === team.version || attempt >= MAX_ATTEMPTS) return { team, members };
    team = await settle(store, now);
  }
}

/** Every member, page by page (for routes whose answer is one row per member). */
export async function* allMembers(store: TeamStore, team: Team, pageSize = 1000): AsyncGenerator<MemberRow[]> {
  let cursor: string | undefined;
  for (;;) {
    const { rows, next } = await memberPage(store, team, cursor, pageSize);
    if (rows.length) yield rows;
    if (next === null) return;
    cursor = next;
  }
}
