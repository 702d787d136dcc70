import { t } from "elysia";
import type { Config } from "@chat/common/config";
import { rules } from "@chat/common/grammar";
import { ref } from "../envelope";
import { grammar, jsonInteger, queryInteger } from "../grammar";

/** The largest page of `GET /v1/teams`. */
export const TEAM_PAGE_MAX = 100;

export const TeamId = grammar(rules.objectId, { description: "team id (ObjectId, 24 lowercase hex)" });
export const UserId = grammar(rules.userId);
export const Icon = grammar(rules.icon);

export const MemberRequest = t.Object({ user_id: UserId }, { additionalProperties: false });
export const LeaveRequest = t.Object(
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
    CreateTeamRequest: t.Object({ name: TeamName, icon: t.Optional(Icon), meta_tags: t.Optional(MetaTags) }, { additionalProperties: false }),
    UpdateTeamRequest: t.Object(
      { name: t.Optional(TeamName), icon: t.Optional(Icon), meta_tags: t.Optional(MetaTags) },
      { additionalProperties: false, description: "the fields to change" },
    ),
    ListQuery: t.Object(
      {
        q: t.Optional(grammar(rules.searchText(limits.teamName))),
        tag: t.Optional(MetaTag),
        cursor: t.Optional(grammar(rules.objectId, { description: "the `next` of the previous page" })),
        limit: t.Optional(queryInteger({ minimum: 1, maximum: TEAM_PAGE_MAX, description: `page size (default 50, at most ${TEAM_PAGE_MAX})` })),
      },
      { additionalProperties: false },
    ),
  };
}

export const Team = t.Object(
  {
    id: t.String({ description: "team id (ObjectId, 24 lowercase hex)" }),
    name: t.String(),
    icon: t.Optional(t.String({ description: "absent when not set" })),
    active: t.Boolean({ description: "false once deactivated" }),
    meta_tags: t.Array(t.String()),
    members: t.Optional(t.Array(t.String({ description: "user id" }), { description: "inline for teams of at most 1,000 members; page them with GET /v1/teams/:id/members" })),
    admins: t.Optional(t.Array(t.String({ description: "user id" }), { description: "inline with `members`" })),
    member_count: jsonInteger({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "how many members" }),
    super_admin: t.String({ description: "user id" }),
    doc: t.String({ format: "date-time", description: "creation time" }),
  },
  { description: "a team" },
);
export const TeamResponse = t.Object({ data: ref("Team", Team) }, { description: "the team" });
export const TeamPage = t.Object(
  {
    data: t.Array(ref("Team", Team)),
    next: t.Union([t.String(), t.Null()], { description: "the `cursor` of the next page; null on the last" }),
  },
  { description: "a page of the caller's teams" },
);
/** `GET /v1/teams`: each team with the caller's unread state (PROTOCOL section 9). */
export const TeamListItem = t.Composite(
  [
    Team,
    t.Object({
      last_seq: jsonInteger({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "seq of the newest message the caller may see (0: none)" }),
      last_read_seq: jsonInteger({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "the caller's read marker (0: never read)" }),
      unread: jsonInteger({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "messages and replies after the marker that the caller may see and did not send (exact)" }),
    }),
  ],
  { description: "a team with the caller's unread state" },
);
export const TeamListPage = t.Object(
  {
    data: t.Array(ref("TeamListItem", TeamListItem)),
    next: t.Union([t.String(), t.Null()], { description: "the `cursor` of the next page; null on the last" }),
  },
  { description: "a page of the caller's teams" },
);
export const MEMBER_PAGE_MAX = 1000;
export const MembersQuery = t.Object(
  {
    cursor: t.Optional(UserId),
    limit: t.Optional(queryInteger({ minimum: 1, maximum: MEMBER_PAGE_MAX, description: `page size (default 100, at most ${MEMBER_PAGE_MAX})` })),
  },
  { additionalProperties: false },
);
export const Member = t.Object(
  { user_id: t.String({ description: "user id" }), role: t.UnionEnum(["super_admin", "admin", "user"]) },
  { description: "a member and their role" },
);
export const MemberPage = t.Object(
  {
    data: t.Array(ref("Member", Member)),
    next: t.Union([t.String(), t.Null()], { description: "the `cursor` of the next page (a user id); null on the last" }),
  },
  { description: "a page of a team's members, by user id" },
);
/** The team components (request bodies are per configuration: `teamModels`). */
export const teamComponents = { Team, TeamResponse, TeamPage, TeamListItem, TeamListPage, Member, MemberPage, MemberRequest, LeaveRequest };
