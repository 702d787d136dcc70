import { Elysia } from "elysia";
import { authPlugin } from "../auth";
import type { ManagementDeps } from "../context";
import { jsonBody } from "../body";
import { errorModels, failures, ok, page } from "../envelope";
import { IdParams, MemberParams, MembersQuery, teamComponents, teamModels } from "./model";
import type { TeamService } from "./service";

const member = failures("validation", "unauthenticated", "forbidden", "not_found");
const change = failures("validation", "unauthenticated", "forbidden", "not_found", "conflict");
/** A change with a JSON body: the body parser can also answer 413 and 415. */
const changeWithBody = failures("validation", "unauthenticated", "forbidden", "not_found", "conflict", "too_large", "unsupported_media_type");

export const teamRoutes = (deps: ManagementDeps, service: TeamService) => {
  const { CreateTeamRequest, UpdateTeamRequest, ListQuery } = teamModels(deps.config.limits);
  return new Elysia({ name: "teams", normalize: false })
    .model({ ...errorModels, ...teamComponents, CreateTeamRequest, UpdateTeamRequest })
    .use(authPlugin(deps.verify, deps.restLimiter))
    .post(
      "/teams",
      async ({ principal, body, set }) => {
        set.status = 201;
        return ok(await service.view(await service.create(principal.user, body)));
      },
      {
        parse: [jsonBody(deps.config.limits.jsonBodyBytes), "json"],
        body: "CreateTeamRequest",
        response: { 201: "TeamResponse", ...failures("validation", "unauthenticated", "too_large", "unsupported_media_type") },
        detail: { tags: ["teams"], summary: "Create a team; the caller becomes its super_admin, an admin and a member" },
      },
    )
    .get(
      "/teams",
      async ({ principal, query }) => {
        const limit = query.limit ?? 50;
        const teams = await service.list(principal.user, { q: query.q, tag: query.tag, after: query.cursor, limit });
        const unread = await deps.messages.unread(principal.user, teams.map((t) => t.id));
        const views = await Promise.all(teams.map((t) => service.view(t)));
        const items = teams.map((t, i) => ({ ...views[i]!, last_seq: unread[i]!.last_seq, last_read_seq: unread[i]!.last_read_seq, unread: unread[i]!.unread }));
        return page(items, teams.length === limit ? teams[teams.length - 1]!.id : null);
      },
      {
        query: ListQuery,
        response: { 200: "TeamListPage", ...failures("validation", "unauthenticated") },
        detail: { tags: ["teams"], summary: "The caller's teams by id, filtered by name text and meta tag, with last_seq, last_read_seq and unread; `next` is the cursor" },
      },
    )
    .get("/teams/:id", async ({ principal, params }) => ok(await service.view(await service.getAsMember(params.id, principal.user))), {
      params: IdParams,
      response: { 200: "TeamResponse", ...member },
      detail: { tags: ["teams"], summary: "A team (members only)" },
    })
    .get(
      "/teams/:id/members",
      async ({ principal, params, query }) => {
        const { rows, next } = await service.members(await service.getAsMember(params.id, principal.user), query.cursor, query.limit ?? 100);
        return page(rows, next);
      },
      {
        params: IdParams,
        query: MembersQuery,
        response: { 200: "MemberPage", ...member },
        detail: { tags: ["members"], summary: "Page the members of a team with their roles, by user id (members only); `next` is the cursor" },
      },
    )
    .patch("/teams/:id", async ({ principal, params, body }) => ok(await service.view(await service.change(params.id, principal.user, { op: "update", patch: body }))), {
      parse: [jsonBody(deps.config.limits.jsonBodyBytes), "json"],
      params: IdParams,
      body: "UpdateTeamRequest",
      response: { 200: "TeamResponse", ...changeWithBody },
      detail: { tags: ["teams"], summary: "Edit name, icon or tags (admin, super_admin; active teams only)" },
    })
    .delete("/teams/:id", async ({ principal, params }) => ok(await service.view(await service.change(params.id, principal.user, { op: "deactivate" }))), {
      params: IdParams,
      response: { 200: "TeamResponse", ...member },
      detail: { tags: ["teams"], summary: "Deactivate (super_admin): no new messages are accepted; idempotent" },
    })
    .post(
      "/teams/:id/members",
      async ({ principal, params, body, set }) => {
        set.status = 201;
        return ok(await service.view(await service.change(params.id, principal.user, { op: "add_member", user: body.user_id })));
      },
      {
        parse: [jsonBody(deps.config.limits.jsonBodyBytes), "json"],
        params: IdParams,
        body: "MemberRequest",
        response: { 201: "TeamResponse", ...changeWithBody },
        detail: { tags: ["members"], summary: "Add a user-level member (admin, super_admin); 409 if already a member" },
      },
    )
    .delete(
      "/teams/:id/members/:user_id",
      async ({ principal, params }) => ok(await service.view(await service.change(params.id, principal.user, { op: "remove_member", user: params.user_id }))),
      {
        params: MemberParams,
        response: { 200: "TeamResponse", ...change },
        detail: { tags: ["members"], summary: "Remove a member (admin: user-level members only; super_admin: anyone but self)" },
      },
    )
    .post(
      "/teams/:id/admins",
      async ({ principal, params, body, set }) => {
        set.status = 201;
        return ok(await service.view(await service.change(params.id, principal.user, { op: "add_admin", user: body.user_id })));
      },
      {
        parse: [jsonBody(deps.config.limits.jsonBodyBytes), "json"],
        params: IdParams,
        body: "MemberRequest",
        response: { 201: "TeamResponse", ...changeWithBody },
        detail: { tags: ["members"], summary: "Elect a member as admin (super_admin); 409 if not a member or already an admin" },
      },
    )
    .delete(
      "/teams/:id/admins/:user_id",
      async ({ principal, params }) => ok(await service.view(await service.change(params.id, principal.user, { op: "remove_admin", user: params.user_id }))),
      {
        params: MemberParams,
        response: { 200: "TeamResponse", ...change },
        detail: { tags: ["members"], summary: "Demote an admin to user level (super_admin); 404 if not an admin" },
      },
    )
    .post(
      "/teams/:id/leave",
      async ({ principal, params, body }) => ok(await service.view(await service.change(params.id, principal.user, { op: "leave", successor: body?.successor }))),
      {
        // No body means `{}`; anything else must be valid JSON (an optional body would swallow parse errors).
        parse: [jsonBody(deps.config.limits.jsonBodyBytes, { allowEmpty: true }), "json"],
        params: IdParams,
        body: "LeaveRequest",
        response: { 200: "TeamResponse", ...changeWithBody },
        detail: {
          tags: ["members"],
          summary: "Leave the team; a super_admin names a successor (409 otherwise) unless last, then the team is deactivated",
        },
      },
    );
};
