import { t } from "elysia";
import type { Config } from "@chat/common/config";
import { rules } from "@chat/common/grammar";
import { grammar, queryInteger } from "../grammar";

/** The largest page of `GET /v1/teams`. */
export const TEAM_PAGE_MAX = 100;

export const TeamId = grammar(rules.objectId, { description: "team id (ObjectId, 24 lowercase hex)" });
export const UserId = grammar(rules.userId);
export const Icon = grammar(rules.icon);

export const MemberBody = t.Object({ user_id: UserId }, { additionalProperties: false });
export const LeaveBody = t.Object(
  { successor: t.Optional(UserId) },
  { additionalProperties: false, description: "a leaving super_admin names a member as successor, unless they are the last member" },
);
export const IdParams = t.Object({ id: TeamId });
export const MemberParams = t.Object({ id: TeamId, user_id: UserId });

/** The models whose limits are settings (LIMIT_TEAM_NAME_CHARS, LIMIT_META_TAGS, LIMIT_META_TAG_CHARS). */
export function teamModels(limits: Pick<Config["limits"], "teamName" | "metaTags" | "metaTagChars">) {
  const TeamName = grammar(rules.teamName(limits.teamName));
  const MetaTag = grammar(rules.metaTag(limits.metaTagChars));
  const MetaTags = t.Array(MetaTag, { maxItems: limits.metaTags, description: `at most ${limits.metaTags} tags (LIMIT_META_TAGS)` });
  return {
    CreateTeam: t.Object({ name: TeamName, icon: t.Optional(Icon), meta_tags: t.Optional(MetaTags) }, { additionalProperties: false }),
    PatchTeam: t.Object({ name: t.Optional(TeamName), icon: t.Optional(Icon), meta_tags: t.Optional(MetaTags) }, { additionalProperties: false }),
    ListQuery: t.Object(
      {
        q: t.Optional(t.String({ minLength: 1, maxLength: limits.teamName, description: "case-insensitive substring of the name (taken literally)" })),
        tag: t.Optional(MetaTag),
        cursor: t.Optional(grammar(rules.objectId, { description: "the `next` of the previous page" })),
        limit: t.Optional(queryInteger({ minimum: 1, maximum: TEAM_PAGE_MAX, description: `page size (default 50, at most ${TEAM_PAGE_MAX})` })),
      },
      { additionalProperties: false },
    ),
  };
}

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
