import { AppError } from "./errors";
import type { LogEntry, MembershipKind } from "./message";

export interface Team {
  id: string;
  name: string;
  icon?: string;
  active: boolean;
  meta_tags: string[];
  members: string[];
  admins: string[];
  super_admin: string;
  doc: string;
  /** Optimistic-concurrency version: every change is one conditional replace on it. */
  version: number;
}

export type Role = "super_admin" | "admin" | "user" | "none";
export function roleOf(team: Team, user: string): Role {
  // A super_admin who left as the last member keeps the field but no role.
  if (!team.members.includes(user)) return "none";
  if (team.super_admin === user) return "super_admin";
  if (team.admins.includes(user)) return "admin";
  if (team.members.includes(user)) return "user";
  return "none";
}

export type TeamOp =
  | { op: "add_member"; user: string }
  | { op: "remove_member"; user: string }
  | { op: "add_admin"; user: string }
  | { op: "remove_admin"; user: string }
  | { op: "leave"; successor?: string }
  | { op: "deactivate" }
  | { op: "update"; patch: { name?: string; icon?: string; meta_tags?: string[] } };

export interface TeamChange {
  team: Team;
  events: LogEntry[];
}

const forbid = (m: string) => new AppError("forbidden", m);
const conflict = (m: string) => new AppError("conflict", m);
const notFound = (m: string) => new AppError("not_found", m);

/**
 * The seed's role model as one pure function: given the team as read and who acts,
 * the team as it must be written, and the events to publish. Stores apply the result
 * with a conditional replace on `version`, so concurrent changes never interleave.
 */
export function applyTeamOp(team: Team, actor: string, op: TeamOp, now = new Date()): TeamChange {
  const role = roleOf(team, actor);
  if (role === "none") throw forbid("not a member of this team");
  const ts = now.toISOString();
  const ev = (kind: MembershipKind, user: string): LogEntry => ({ kind, channel_id: team.id, user, by: actor, ts });
  const next: Team = { ...team, members: [...team.members], admins: [...team.admins], version: team.version + 1 };
  const without = (list: string[], u: string) => list.filter((x) => x !== u);
  const mustBeActive = () => {
    if (!team.active) throw conflict("team is inactive");
  };

  switch (op.op) {
    case "add_member": {
      if (role === "user") throw forbid("only admins can add members");
      mustBeActive();
      if (team.members.includes(op.user)) throw conflict("already a member");
      next.members.push(op.user);
      return { team: next, events: [ev("member_joined", op.user)] };
    }
    case "remove_member": {
      if (role === "user") throw forbid("only admins can remove members");
      if (op.user === actor) throw forbid("use leave to remove yourself");
      const target = roleOf(team, op.user);
      if (role === "admin" && (target === "admin" || target === "super_admin")) throw forbid("admins can remove user-level members only");
      mustBeActive();
      if (target === "none") throw notFound("not a member");
      next.members = without(next.members, op.user);
      next.admins = without(next.admins, op.user);
      return { team: next, events: [ev("member_left", op.user)] };
    }
    case "add_admin": {
      if (role !== "super_admin") throw forbid("only the super_admin can elect admins");
      mustBeActive();
      if (!team.members.includes(op.user)) throw conflict("target is not a member");
      if (team.admins.includes(op.user)) throw conflict("already an admin");
      next.admins.push(op.user);
      return { team: next, events: [ev("admin_added", op.user)] };
    }
    case "remove_admin": {
      if (role !== "super_admin") throw forbid("only the super_admin can remove admins");
      mustBeActive();
      if (op.user === team.super_admin) throw conflict("the super_admin stays an admin; transfer by leaving with a successor");
      if (!team.admins.includes(op.user)) throw notFound("not an admin");
      next.admins = without(next.admins, op.user);
      return { team: next, events: [ev("admin_removed", op.user)] };
    }
    case "leave": {
      mustBeActive();
      const events: LogEntry[] = [];
      if (role === "super_admin") {
        const others = team.members.filter((m) => m !== actor);
        if (others.length === 0) {
          next.active = false;
          events.push({ kind: "team_updated", channel_id: team.id, active: false, ts });
        } else {
          if (!op.successor) throw conflict("a leaving super_admin must name a successor");
          if (op.successor === actor || !team.members.includes(op.successor)) throw conflict("successor must be another member");
          next.super_admin = op.successor;
          if (!next.admins.includes(op.successor)) {
            next.admins.push(op.successor);
            events.push(ev("admin_added", op.successor));
          }
        }
      } else if (op.successor !== undefined) {
        throw conflict("only the super_admin names a successor");
      }
      next.members = without(next.members, actor);
      next.admins = without(next.admins, actor);
      events.push(ev("member_left", actor));
      return { team: next, events };
    }
    case "deactivate": {
      if (role !== "super_admin") throw forbid("only the super_admin can deactivate the team");
      if (!team.active) return { team, events: [] };
      next.active = false;
      return { team: next, events: [{ kind: "team_updated", channel_id: team.id, active: false, ts }] };
    }
    case "update": {
      if (role === "user") throw forbid("only admins can edit the team");
      mustBeActive();
      if (op.patch.name !== undefined) next.name = op.patch.name;
      if (op.patch.icon !== undefined) next.icon = op.patch.icon;
      if (op.patch.meta_tags !== undefined) next.meta_tags = [...new Set(op.patch.meta_tags)];
      return { team: next, events: [] };
    }
  }
}

export function newTeam(id: string, creator: string, fields: { name: string; icon?: string; meta_tags?: string[] }, now = new Date()): Team {
  const team: Team = {
    id,
    name: fields.name,
    active: true,
    meta_tags: [...new Set(fields.meta_tags ?? [])],
    members: [creator],
    admins: [creator],
    super_admin: creator,
    doc: now.toISOString(),
    version: 1,
  };
  if (fields.icon !== undefined) team.icon = fields.icon;
  return team;
}

/** PROTOCOL §4: members and admins are inline only for teams up to this size; bigger ones page them. */
export const INLINE_MEMBERS = 1000;

/** The public shape of a team: no version, `member_count`, and the member lists only while small. */
export function teamView(t: Team) {
  const { version: _v, members, admins, ...rest } = t;
  return members.length <= INLINE_MEMBERS ? { ...rest, members, admins, member_count: members.length } : { ...rest, member_count: members.length };
}

export interface MemberRow {
  user_id: string;
  role: Exclude<Role, "none">;
}

/** A page of a team's members in user-id order, after `cursor` (a user id), and the next cursor or null. */
export function memberPage(t: Team, cursor: string | undefined, limit: number): { rows: MemberRow[]; next: string | null } {
  const sorted = [...t.members].sort();
  let from = 0;
  if (cursor !== undefined) {
    // Binary search for the first member after the cursor.
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]! <= cursor) lo = mid + 1;
      else hi = mid;
    }
    from = lo;
  }
  const rows = sorted.slice(from, from + limit).map((user_id) => ({ user_id, role: roleOf(t, user_id) as MemberRow["role"] }));
  return { rows, next: from + limit < sorted.length ? rows[rows.length - 1]!.user_id : null };
}
