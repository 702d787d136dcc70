import { Elysia, t } from "elysia";
import { teamView } from "@chat/common/teams";
import { authPlugin } from "../auth";
import type { ManagementDeps } from "../context";
import { ok, page } from "../envelope";
import { CreateTeam, IdParams, LeaveBody, ListQuery, MemberBody, MemberParams, PatchTeam, TeamView } from "./model";
import type { TeamService } from "./service";

const One = t.Object({ data: TeamView });

export const teamRoutes = (deps: ManagementDeps, service: TeamService) =>
  new Elysia({ name: "teams", normalize: false })
    .use(authPlugin(deps.verify))
    .post(
      "/teams",
      async ({ principal, body, set }) => {
        set.status = 201;
        return ok(teamView(await service.create(principal.user, body)));
      },
      { body: CreateTeam, response: { 201: One }, detail: { tags: ["teams"], summary: "Create a team; the caller becomes its super_admin" } },
    )
    .get(
      "/teams",
      async ({ principal, query }) => {
        const limit = query.limit ?? 50;
        const teams = await service.list(principal.user, { q: query.q, tag: query.tag, after: query.cursor, limit });
        return page(teams.map(teamView), teams.length === limit ? teams[teams.length - 1]!.id : null);
      },
      { query: ListQuery, detail: { tags: ["teams"], summary: "The caller's teams" } },
    )
    .get("/teams/:id", async ({ principal, params }) => ok(teamView(await service.getAsMember(params.id, principal.user))), {
      params: IdParams,
      response: { 200: One },
      detail: { tags: ["teams"], summary: "A team (members only)" },
    })
    .patch("/teams/:id", async ({ principal, params, body }) => ok(teamView(await service.change(params.id, principal.user, { op: "update", patch: body }))), {
      params: IdParams,
      body: PatchTeam,
      response: { 200: One },
      detail: { tags: ["teams"], summary: "Edit name, icon or tags (admins)" },
    })
    .delete("/teams/:id", async ({ principal, params }) => ok(teamView(await service.change(params.id, principal.user, { op: "deactivate" }))), {
      params: IdParams,
      response: { 200: One },
      detail: { tags: ["teams"], summary: "Deactivate (super_admin)" },
    })
    .post(
      "/teams/:id/members",
      async ({ principal, params, body, set }) => {
        set.status = 201;
        return ok(teamView(await service.change(params.id, principal.user, { op: "add_member", user: body.user_id })));
      },
      { params: IdParams, body: MemberBody, response: { 201: One }, detail: { tags: ["members"], summary: "Add a user-level member (admins)" } },
    )
    .delete(
      "/teams/:id/members/:user_id",
      async ({ principal, params }) => ok(teamView(await service.change(params.id, principal.user, { op: "remove_member", user: params.user_id }))),
      { params: MemberParams, response: { 200: One }, detail: { tags: ["members"], summary: "Remove a member" } },
    )
    .post(
      "/teams/:id/admins",
      async ({ principal, params, body, set }) => {
        set.status = 201;
        return ok(teamView(await service.change(params.id, principal.user, { op: "add_admin", user: body.user_id })));
      },
      { params: IdParams, body: MemberBody, response: { 201: One }, detail: { tags: ["members"], summary: "Elect an admin (super_admin)" } },
    )
    .delete(
      "/teams/:id/admins/:user_id",
      async ({ principal, params }) => ok(teamView(await service.change(params.id, principal.user, { op: "remove_admin", user: params.user_id }))),
      { params: MemberParams, response: { 200: One }, detail: { tags: ["members"], summary: "Demote an admin (super_admin)" } },
    )
    .post(
      "/teams/:id/leave",
      async ({ principal, params, body }) => ok(teamView(await service.change(params.id, principal.user, { op: "leave", successor: body?.successor }))),
      { params: IdParams, body: t.Optional(LeaveBody), response: { 200: One }, detail: { tags: ["members"], summary: "Leave the team" } },
    );
