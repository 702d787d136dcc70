import { t } from "elysia";

export const TeamId = t.String({ pattern: "^[0-9a-f]{24}$", description: "team id (ObjectId hex)" });
export const UserId = t.String({ minLength: 1, maxLength: 320, pattern: "^[^\\s\\u0000-\\u001f\\u007f]+$" });
export const TeamName = t.String({ minLength: 1, maxLength: 100 });
export const Icon = t.String({ minLength: 1, maxLength: 2048, pattern: "^https?://[^\\s]+$" });
export const MetaTags = t.Array(t.String({ minLength: 1, maxLength: 32, pattern: "^[a-z0-9-]+$" }), { maxItems: 20 });

export const CreateTeam = t.Object({ name: TeamName, icon: t.Optional(Icon), meta_tags: t.Optional(MetaTags) }, { additionalProperties: false });
export const PatchTeam = t.Object({ name: t.Optional(TeamName), icon: t.Optional(Icon), meta_tags: t.Optional(MetaTags) }, { additionalProperties: false });
export const MemberBody = t.Object({ user_id: UserId }, { additionalProperties: false });
export const LeaveBody = t.Object({ successor: t.Optional(UserId) }, { additionalProperties: false });
export const IdParams = t.Object({ id: TeamId });
export const MemberParams = t.Object({ id: TeamId, user_id: UserId });
export const ListQuery = t.Object(
  {
    q: t.Optional(t.String({ minLength: 1, maxLength: 100 })),
    tag: t.Optional(t.String({ minLength: 1, maxLength: 32, pattern: "^[a-z0-9-]+$" })),
    cursor: t.Optional(TeamId),
    limit: t.Optional(t.Numeric({ minimum: 1, maximum: 100 })),
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
  doc: t.String(),
});
