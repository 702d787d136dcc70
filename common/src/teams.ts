import { AppError } from "./errors";
import type { LogEntry, MembershipKind } from "./message";

/** A member's stored role; the super_admin is an admin whose id the team header names. */
export type MemberRole = "user" | "admin";

/** One membership row as a change writes it: `none` marks a member who left (a tombstone, see membership.ts). */
export interface RowWrite {
  user: string;
  role: MemberRole | "none";
}

/**
 * A team's header: everything but its members, who are rows of their own (team_id, user, role),
 * so a membership change writes O(1) rows, each through an index (O(log n)).
 */
export interface Team {
  id: string;
  name: string;
  icon?: string;
  active: boolean;
  meta_tags: string[];
  super_admin: string;
  doc: string;
  /** How many members: written in the same conditional write as `version`, so it is exact. */
  member_count: number;
  /** Optimistic-concurrency version: every change is one conditional write of the header on it. */
  version: number;
  /**
   * The membership rows of the change that set `version`, until they are known to be written
   * (absent: none outstanding). Any reader may write them again; see membership.ts.
   */
  pending?: RowWrite[];
}

export type Role = "super_admin" | "admin" | "user" | "none";

/** A user's role from the team header and their row (`none`: no row, or a tombstone). */
export function roleFrom(team: Pick<Team, "super_admin">, user: string, row: MemberRole | "none" | undefined): Role {
  // A super_admin who left as the last member keeps the field but no row, so no role.
  if (row === undefined || row === "none") return "none";
  if (team.super_admin === user) return "super_admin";
  return row;
}

export type TeamOp =
  | { op: "add_member"; user: string }
  | { op: "remove_member"; user: string }
  | { op: "add_admin"; user: string }
  | { op: "remove_admin"; user: string }
  | { op: "leave"; successor?: string }
  | { op: "deactivate" }
  | { op: "update"; patch: { name?: string; icon?: string; meta_tags?: string[] } };

/** The users whose roles `applyTeamOp` needs to decide `op` by `actor`. */
export function usersOf(actor: string, op: TeamOp): string[] {
  const users = [actor];
  if ("user" in op) users.push(op.user);
  if (op.op === "leave" && op.successor !== undefined) users.push(op.successor);
  return [...new Set(users)];
}

export interface TeamChange {
  /** The header as it must be written: version bumped, member_count adjusted. */
  team: Team;
  /** The membership rows the change writes (at most two). */
  rows: RowWrite[];
  events: LogEntry[];
}

const forbid = (m: string) => new AppError("forbidden", m);
const conflict = (m: string) => new AppError("conflict", m);
const notFound = (m: string) => new AppError("not_found", m);

/**
 * The role model as one pure function of the team header and the roles of the users involved
 * (`roles`: at least those of `usersOf(actor, op)`; a missing user is `none`): the header to write,
 * the rows to write and the events to publish. A store commits the header with a conditional write
 * on `version`, so two changes never decide from the same state.
 */
export function applyTeamOp(team: Team, actor: string, roles: ReadonlyMap<string, Role>, op: TeamOp, now = new Date()): TeamChange {
  const roleOf = (u: string): Role => roles.get(u) ?? "none";
  const role = roleOf(actor);
  if (role === "none") throw forbid("not a member of this team");
  const ts = now.toISOString();
  const ev = (kind: MembershipKind, user: string): LogEntry => ({ kind, channel_id: team.id, user, by: actor, ts });
  const { pending: _p, ...header } = team;
  const next: Team = { ...header, meta_tags: [...team.meta_tags], version: team.version + 1 };
  const mustBeActive = () => {
    if (!team.active) throw conflict("team is inactive");
  };

  switch (op.op) {
    case "add_member": {
      if (role === "user") throw forbid("only admins can add members");
      mustBeActive();
      if (roleOf(op.user) !== "none") throw conflict("already a member");
      next.member_count++;
      return { team: next, rows: [{ user: op.user, role: "user" }], events: [ev("member_joined", op.user)] };
    }
    case "remove_member": {
      if (role === "user") throw forbid("only admins can remove members");
      if (op.user === actor) throw forbid("use leave to remove yourself");
      const target = roleOf(op.user);
      if (role === "admin" && (target === "admin" || target === "super_admin")) throw forbid("admins can remove user-level members only");
      mustBeActive();
      if (target === "none") throw notFound("not a member");
      next.member_count--;
      return { team: next, rows: [{ user: op.user, role: "none" }], events: [ev("member_left", op.user)] };
    }
    case "add_admin": {
      if (role !== "super_admin") throw forbid("only the super_admin can elect admins");
      mustBeActive();
      const target = roleOf(op.user);
      if (target === "none") throw conflict("target is not a member");
      if (target !== "user") throw conflict("already an admin");
      return { team: next, rows: [{ user: op.user, role: "admin" }], events: [ev("admin_added", op.user)] };
    }
    case "remove_admin": {
      if (role !== "super_admin") throw forbid("only the super_admin can remove admins");
      mustBeActive();
      if (op.user === team.super_admin) throw conflict("the super_admin stays an admin; transfer by leaving with a successor");
      if (roleOf(op.user) !== "admin") throw notFound("not an admin");
      return { team: next, rows: [{ user: op.user, role: "user" }], events: [ev("admin_removed", op.user)] };
    }
    case "leave": {
      mustBeActive();
      const events: LogEntry[] = [];
      const rows: RowWrite[] = [];
      if (role === "super_admin") {
        if (team.member_count <= 1) {
          next.active = false;
          events.push({ kind: "team_updated", channel_id: team.id, active: false, ts });
        } else {
          if (!op.successor) throw conflict("a leaving super_admin must name a successor");
          const successor = roleOf(op.successor);
          if (op.successor === actor || successor === "none") throw conflict("successor must be another member");
          next.super_admin = op.successor;
          if (successor === "user") {
            rows.push({ user: op.successor, role: "admin" });
            events.push(ev("admin_added", op.successor));
          }
        }
      } else if (op.successor !== undefined) {
        throw conflict("only the super_admin names a successor");
      }
      next.member_count--;
      rows.push({ user: actor, role: "none" });
      events.push(ev("member_left", actor));
      return { team: next, rows, events };
    }
    case "deactivate": {
      if (role !== "super_admin") throw forbid("only the super_admin can deactivate the team");
      if (!team.active) return { team, rows: [], events: [] };
      next.active = false;
      return { team: next, rows: [], events: [{ kind: "team_updated", channel_id: team.id, active: false, ts }] };
    }
    case "update": {
      if (role === "user") throw forbid("only admins can edit the team");
      mustBeActive();
      if (op.patch.name !== undefined) next.name = op.patch.name;
      if (op.patch.icon !== undefined) next.icon = op.patch.icon;
      if (op.patch.meta_tags !== undefined) next.meta_tags = [...new Set(op.patch.meta_tags)];
      return { team: next, rows: [], events: [] };
    }
  }
}

/** A new team's header; its creator's row (an admin, the super_admin) is its `pending` write. */
export function newTeam(id: string, creator: string, fields: { name: string; icon?: string; meta_tags?: string[] }, now = new Date()): Team {
  const team: Team = {
    id,
    name: fields.name,
    active: true,
    meta_tags: [...new Set(fields.meta_tags ?? [])],
    super_admin: creator,
    doc: now.toISOString(),
    member_count: 1,
    version: 1,
    pending: [{ user: creator, role: "admin" }],
  };
  if (fields.icon !== undefined) team.icon = fields.icon;
  return team;
}

/** PROTOCOL §4: members and admins are inline only for teams up to this size; bigger ones page them. */
export const INLINE_MEMBERS = 1000;

export interface MemberRow {
  user_id: string;
  role: Exclude<Role, "none">;
}

/**
 * The public shape of a team: no version, `member_count`, and the member lists only while small
 * (`members`: all of them, read by the caller when `member_count <= INLINE_MEMBERS`).
 */
export function teamView(t: Team, members?: MemberRow[]) {
  const { version: _v, pending: _p, ...rest } = t;
  if (members === undefined || t.member_count > INLINE_MEMBERS) return { ...rest };
  return { ...rest, members: members.map((m) => m.user_id), admins: members.filter((m) => m.role !== "user").map((m) => m.user_id) };
}
