import { Elysia, t } from "elysia";
import { MESSAGE_TYPES } from "@chat/common/message";
import { authPlugin } from "../auth";
import type { ManagementDeps } from "../context";
import { errorModels, failures, page, ref } from "../envelope";
import { jsonInteger, queryInteger } from "../grammar";
import { IdParams } from "../teams/model";
import type { TeamService } from "../teams/service";

/** Any client may ask for the page the protocol promises; a server configured lower answers shorter pages, not 400. */
const CONTRACT_PAGE = 100;
const DEFAULT_PAGE = 50;

/** `maxPage` is LIMIT_HISTORY_PAGE. */
const historyQuery = (maxPage: number) =>
  t.Object(
    {
      before: t.Optional(queryInteger({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: "only messages with a smaller seq: the `next` of the previous page" })),
      limit: t.Optional(
        queryInteger({
          minimum: 1,
          maximum: Math.max(CONTRACT_PAGE, maxPage),
          description: `page size (default ${Math.min(DEFAULT_PAGE, maxPage)}); pages hold at most ${maxPage} (LIMIT_HISTORY_PAGE)`,
        }),
      ),
    },
    { additionalProperties: false },
  );

const Seq = jsonInteger({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Message = t.Object(
  {
    id: t.String({ description: "message id (ObjectId, 24 lowercase hex)" }),
    seq: Seq,
    channel_id: t.String({ description: "the team" }),
    to: t.String({ description: '"*" for the whole team, else the recipient of a direct message' }),
    type: t.UnionEnum([...MESSAGE_TYPES]),
    data: t.String({ description: "text, or an attachment id" }),
    ts: t.String({ format: "date-time" }),
    from: t.String({ description: "the sender's user id" }),
    client_msg_id: t.Optional(t.String()),
  },
  { description: "a message as stored: `seq` strictly increases within a team" },
);
const MessagePage = t.Object(
  {
    data: t.Array(ref("Message", Message)),
    next: t.Union([Seq, t.Null()], { description: "the `before` of the next page; null on the last" }),
  },
  { description: "a page of history, newest first" },
);

export const messageRoutes = (deps: ManagementDeps, teams: TeamService) => {
  const maxPage = deps.config.limits.historyPage;
  return new Elysia({ name: "messages", normalize: false })
    .model({ ...errorModels, Message, MessagePage })
    .use(authPlugin(deps.verify, deps.restLimiter))
    .get(
    "/teams/:id/messages",
    async ({ principal, params, query }) => {
      await teams.getAsMember(params.id, principal.user);
      const limit = Math.min(query.limit ?? DEFAULT_PAGE, maxPage);
      const items = await deps.messages.history(params.id, principal.user, { before: query.before, limit });
      return page(items, items.length === limit ? items[items.length - 1]!.seq : null);
    },
    {
      params: IdParams,
      query: historyQuery(maxPage),
      response: { 200: "MessagePage", ...failures("validation", "unauthenticated", "forbidden", "not_found") },
      detail: { tags: ["messages"], summary: "History, newest first: broadcasts and the caller's own DMs; `next` is the `before` of the next page" },
    },
  );
};
