import type { MembershipEvent } from "../protocol";
import type { Team } from "../rest-shapes";
import { bumpSeq, type ChannelState } from "./channel-state";
import { setServerUnread } from "./unread";

/** The team as REST returned it: members with their roles, and the server's unread count. */
export function applyTeam(c: ChannelState, t: Team): void {
  c.team = t;
  c.left = false;
  if (t.members) {
    const admins = new Set(t.admins ?? []);
    c.members = new Map(t.members.map((u) => [u, u === t.super_admin ? "super_admin" : admins.has(u) ? "admin" : "user"]));
  }
  setServerUnread(c, t);
}

/** Roles such as a new super_admin are not in these events: the caller re-reads the team. */
export function applyMembership(c: ChannelState, f: MembershipEvent): void {
  bumpSeq(c, f.seq);
  const members = new Map(c.members);
  if (f.event === "member_joined") members.set(f.user, members.get(f.user) ?? "user");
  else if (f.event === "member_left") members.delete(f.user);
  else if (f.event === "admin_added") members.set(f.user, members.get(f.user) === "super_admin" ? "super_admin" : "admin");
  else if (f.event === "admin_removed") members.set(f.user, "user");
  c.members = members;
}
