import { Elysia, t } from "elysia";
import { authPlugin } from "../auth";
import type { ManagementDeps } from "../context";
import { page } from "../envelope";
import { IdParams } from "../teams/model";
import type { TeamService } from "../teams/service";

const HistoryQuery = t.Object(
  {
    before: t.Optional(t.Numeric({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
    limit: t.Optional(t.Numeric({ minimum: 1, maximum: 100 })),
  },
  { additionalProperties: false },
);

export const messageRoutes = (deps: ManagementDeps, teams: TeamService) =>
  new Elysia({ name: "messages", normalize: false }).use(authPlugin(deps.verify)).get(
    "/teams/:id/messages",
    async ({ principal, params, query }) => {
      await teams.getAsMember(params.id, principal.user);
      const limit = Math.min(query.limit ?? 50, deps.config.limits.historyPage);
      const items = await deps.messages.history(params.id, principal.user, { before: query.before, limit });
      return page(items, items.length === limit ? items[items.length - 1]!.seq : null);
    },
    { params: IdParams, query: HistoryQuery, detail: { tags: ["messages"], summary: "History, newest first: broadcasts and the caller's DMs" } },
  );
