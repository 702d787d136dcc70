import { t } from "elysia";

export const TeamId = t.String({ pattern: "^[0-9a-f]{24}$", description: "team id (ObjectId, 24 lowercase hex)" });
/**
 * Email-like: printable, no whitespace, and none of the characters that only ever appear in
 * injection attempts (`{ } $ " < > \ /`), so `{"$ne":…}` is refused wherever a user id goes.
 */
export const UserId = t.String({
  minLength: 1,
  maxLength: 320,
  pattern: "^(?!\\*$)[^\\s\\u0000-\\u001f\\u007f{}$\"<>\\\\/]+$",
  description: "user id (the JWT `sub`, email-like)",
});
export const TeamName = t.String({ minLength: 1, maxLength: 100, pattern: "^[^\\u0000-\\u001f\\u007f]*\\S[^\\u0000-\\u001f\\u007f]*$" });
export const Icon = t.String({ minLength: 1, maxLength: 2048, pattern: "^https?://[^\\s]+$", description: "http(s) URL of the team's icon" });
export const MetaTag = t.String({ minLength: 1, maxLength: 32, pattern: "^[a-z0-9-]+$" });
export const MetaTags = t.Array(MetaTag, { maxItems: 20 });

export const CreateTeam = t.Object({ name: TeamName, icon: t.Optional(Icon), meta_tags: t.Optional(MetaTags) }, { additionalProperties: false });
export const PatchTeam = t.Object({ name: t.Optional(TeamName), icon: t.Optional(Icon), meta_tags: t.Optional(MetaTags) }, { additionalProperties: false });
export const MemberBody = t.Object({ user_id: UserId }, { additionalProperties: false });
export const LeaveBody = t.Object(
  { successor: t.Optional(UserId) },
  { additionalProperties: false, description: "a leaving super_admin names a member as successor, unless they are the last member" },
);
export const IdParams = t.Object({ id: TeamId });
export const MemberParams = t.Object({ id: TeamId, user_id: UserId });
export const ListQuery = t.Object(
  {
    q: t.Optional(t.String({ minLength: 1, maxLength: 100, description: "case-insensitive substring of the name (taken literally)" })),
    tag: t.Optional(MetaTag),
    cursor: t.Optional(t.String({ pattern: "^[0-9a-f]{24}$", description: "the `next` of the previous page" })),
    limit: t.Optional(t.Numeric({ minimum: 1, maximum: 100, multipleOf: 1, default: 50 })),
  },
  { additionalProperties: false },
);

export const TeamView = t.Object({
  id: t.String(),
  name: t.String(),
  icon: t.Optional(t.String()),
  active: t.Boolean(),
  meta_tags: t.Array(t.String()),
  members: t.Array(t.String()),
  admins: t.Array(t.String()),
  super_admin: t.String(),
  doc: t.String({ format: "date-time", description: "creation time" }),
});
export const OneTeam = t.Object({ data: TeamView });
export const TeamPage = t.Object({ data: t.Array(TeamView), next: t.Union([t.String(), t.Null()]) });

/** `GET /v1/teams`: each team with the caller's unread state (PROTOCOL section 9). */
export const TeamListItem = t.Composite([
  TeamView,
  t.Object({
    last_seq: t.Integer({ description: "seq of the newest message the caller may see (0: none)" }),
    last_read_seq: t.Integer({ description: "the caller's read marker (0: never read)" }),
    unread: t.Integer({ description: "messages and replies after the marker that the caller may see and did not send (exact)" }),
  }),
]);
export const TeamListPage = t.Object({ data: t.Array(TeamListItem), next: t.Union([t.String(), t.Null()]) });
