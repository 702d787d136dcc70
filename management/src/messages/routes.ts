import { Elysia, t } from "elysia";
import { MESSAGE_TYPES } from "@chat/common/message";
import { authPlugin } from "../auth";
import type { ManagementDeps } from "../context";
import { failures, page } from "../envelope";
import { IdParams } from "../teams/model";
import type { TeamService } from "../teams/service";

const HistoryQuery = t.Object(
  {
    before: t.Optional(t.Numeric({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, multipleOf: 1, description: "only messages with a smaller seq: the `next` of the previous page" })),
    limit: t.Optional(t.Numeric({ minimum: 1, maximum: 100, multipleOf: 1, description: "page size (default 50, at most LIMIT_HISTORY_PAGE)" })),
    thread: t.Optional(t.String({ pattern: "^[0-9a-f]{24}$", description: "a thread root's id: only that thread, root included" })),
  },
  { additionalProperties: false },
);

const Message = t.Object({
  id: t.String(),
  seq: t.Integer(),
  channel_id: t.String(),
  to: t.String({ description: '"*" for the whole team, else the recipient of a direct message' }),
  type: t.UnionEnum([...MESSAGE_TYPES]),
  data: t.Optional(t.String({ description: "text (after edits), or an attachment id; absent once deleted" })),
  ts: t.String({ format: "date-time" }),
  from: t.String(),
  client_msg_id: t.Optional(t.String()),
  reply_to: t.Optional(t.String({ description: "replies: the thread root's id" })),
  edited_at: t.Optional(t.String({ format: "date-time" })),
  deleted: t.Optional(t.Literal(true)),
  reply_count: t.Optional(t.Integer({ description: "roots with replies: how many" })),
  last_reply_seq: t.Optional(t.Integer()),
  reactions: t.Optional(t.Array(t.Object({ emoji: t.String(), count: t.Integer(), me: t.Boolean() }), { description: "oldest emoji first; `me`: the caller reacted with it" })),
});
const MessagePage = t.Object({ data: t.Array(Message), next: t.Union([t.Integer(), t.Null()]) });

export const messageRoutes = (deps: ManagementDeps, teams: TeamService) =>
  new Elysia({ name: "messages", normalize: false }).use(authPlugin(deps.verify)).get(
    "/teams/:id/messages",
    async ({ principal, params, query }) => {
      await teams.getAsMember(params.id, principal.user);
      const limit = Math.min(query.limit ?? 50, deps.config.limits.historyPage);
      const items = await deps.messages.history(params.id, principal.user, { before: query.before, limit, thread: query.thread });
      return page(items, items.length === limit ? items[items.length - 1]!.seq : null);
    },
    {
      params: IdParams,
      query: HistoryQuery,
      response: { 200: MessagePage, ...failures("validation", "unauthenticated", "forbidden", "not_found") },
      detail: { tags: ["messages"], summary: "History, newest first: broadcasts and the caller's own DMs; `next` is the `before` of the next page" },
    },
  );
