import { Elysia, t } from "elysia";
import { AppError } from "@chat/common/errors";
import { authPlugin } from "../auth";
import type { ManagementDeps } from "../context";
import { failures, ok } from "../envelope";
import { IdParams } from "../teams/model";
import type { TeamService } from "../teams/service";

export const PresenceView = t.Object({
  data: t.Object({ online: t.Array(t.String(), { description: "members with a socket on any relay, or who left less than 5 s ago" }) }),
});

export const presenceRoutes = (deps: ManagementDeps, teams: TeamService) =>
  new Elysia({ name: "presence", normalize: false }).use(authPlugin(deps.verify, deps.restLimiter)).get(
    "/teams/:id/presence",
    async ({ principal, params }) => {
      const team = await teams.getAsMember(params.id, principal.user);
      if (!deps.presence) throw new AppError("unavailable", "presence service not configured (CONTROLLER_URLS)");
      const online = await deps.presence.online(team.id);
      const members = await teams.membersAmong(team, online);
      return ok({ online: online.filter((u) => members.has(u)) });
    },
    {
      params: IdParams,
      response: { 200: PresenceView, ...failures("validation", "unauthenticated", "forbidden", "not_found", "unavailable") },
      detail: { tags: ["presence"], summary: "Who is online in the team (members): the same state the WebSocket presence frames come from" },
    },
  );
