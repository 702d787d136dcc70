import { Elysia } from "elysia";
import { AppError } from "@chat/common/errors";
import { isEmoji } from "@chat/common/lifecycle";
import { parseText } from "@chat/common/message";
import { authPlugin } from "../auth";
import type { ManagementDeps } from "../context";
import { jsonBody } from "../body";
import { errorModels, failures, ok, page } from "../envelope";
import { IdParams } from "../teams/model";
import type { TeamService } from "../teams/service";
import { DEFAULT_PAGE, EditBody, historyQuery, MessageParams, messageComponents, OpAck, ReactionParams, ReadBody, Reads } from "./model";
import { MessageService } from "./service";

const op = failures("validation", "unauthenticated", "forbidden", "not_found", "conflict", "too_large", "unavailable");
/** The path parameter arrives URL-decoded (Elysia), so `%25` is a literal `%`. */
const emojiOf = (emoji: string) => {
  if (!isEmoji(emoji)) throw new AppError("validation", "emoji must be 1-32 characters without whitespace");
  return emoji;
};

export const messageRoutes = (deps: ManagementDeps, teams: TeamService) => {
  const maxPage = deps.config.limits.historyPage;
  const service = new MessageService(deps.teams, deps.messages, deps.log);
  return new Elysia({ name: "messages", normalize: false })
    .model({ ...errorModels, ...messageComponents })
    .use(authPlugin(deps.verify, deps.restLimiter))
    .get(
      "/teams/:id/messages",
      async ({ principal, params, query }) => {
        await teams.getAsMember(params.id, principal.user);
        const limit = Math.min(query.limit ?? DEFAULT_PAGE, maxPage);
        const items = await deps.messages.history(params.id, principal.user, { before: query.before, limit, thread: query.thread });
        return page(items, items.length === limit ? items[items.length - 1]!.seq : null);
      },
      {
        params: IdParams,
        query: historyQuery(maxPage),
        response: { 200: "MessagePage", ...failures("validation", "unauthenticated", "forbidden", "not_found") },
        detail: {
          tags: ["messages"],
          summary: "History, newest first, in current state (edits, deletes, reactions, reply counts): broadcasts and the caller's own DMs; `?thread=` one thread",
        },
      },
    )
    .patch(
      "/teams/:id/messages/:msg",
      async ({ principal, params, body }) =>
        ok(await service.apply(params.id, principal.user, { op: "edit", channel_id: params.id, id: params.msg, data: parseText(body.data, deps.config.limits) })),
      {
        parse: [jsonBody(deps.config.limits.jsonBodyBytes), "json"],
        params: MessageParams,
        body: EditBody,
        response: { 200: OpAck, ...op },
        detail: { tags: ["messages"], summary: "Edit a text message (its author; active teams): a message_edited event" },
      },
    )
    .delete("/teams/:id/messages/:msg", async ({ principal, params }) => ok(await service.apply(params.id, principal.user, { op: "delete", channel_id: params.id, id: params.msg })), {
      params: MessageParams,
      response: { 200: OpAck, ...op },
      detail: { tags: ["messages"], summary: "Delete a message (its author, admins, super_admin): its content is gone; deleting twice is fine" },
    })
    .put(
      "/teams/:id/messages/:msg/reactions/:emoji",
      async ({ principal, params }) =>
        ok(await service.apply(params.id, principal.user, { op: "react", channel_id: params.id, id: params.msg, emoji: emojiOf(params.emoji), on: true })),
      {
        params: ReactionParams,
        response: { 200: OpAck, ...op },
        detail: { tags: ["messages"], summary: "React (members who see the message); adding twice changes nothing; at most 20 distinct emoji (413)" },
      },
    )
    .delete(
      "/teams/:id/messages/:msg/reactions/:emoji",
      async ({ principal, params }) =>
        ok(await service.apply(params.id, principal.user, { op: "react", channel_id: params.id, id: params.msg, emoji: emojiOf(params.emoji), on: false })),
      {
        params: ReactionParams,
        response: { 200: OpAck, ...op },
        detail: { tags: ["messages"], summary: "Remove the caller's reaction; removing what is not there changes nothing" },
      },
    )
    .put("/teams/:id/read", async ({ principal, params, body }) => ok(await service.apply(params.id, principal.user, { op: "read", channel_id: params.id, seq: body.seq })), {
      parse: [jsonBody(deps.config.limits.jsonBodyBytes), "json"],
      params: IdParams,
      body: ReadBody,
      response: { 200: OpAck, ...op },
      detail: { tags: ["messages"], summary: "Move the caller's read marker forward (members): a read event to the caller's own sockets" },
    })
    .get(
      "/teams/:id/reads",
      async ({ principal, params }) => {
        const team = await teams.getAsMember(params.id, principal.user);
        const markers = new Map((await deps.messages.readMarkers(team.id)).map((r) => [r.user, r.seq]));
        const rows: { user_id: string; last_read_seq: number }[] = [];
        for await (const page of teams.everyMember(team)) for (const m of page) rows.push({ user_id: m.user_id, last_read_seq: markers.get(m.user_id) ?? 0 });
        return ok(rows);
      },
      {
        params: IdParams,
        response: { 200: Reads, ...failures("validation", "unauthenticated", "forbidden", "not_found") },
        detail: { tags: ["messages"], summary: "Read receipts (members): every member's read marker, 0 when never read" },
      },
    );
};
