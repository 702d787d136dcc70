import { Elysia, t } from "elysia";
import { contentTypeFits, normalizeContentType, sanitizeFilename } from "@chat/common/attachments";
import { AppError } from "@chat/common/errors";
import { objectId } from "@chat/common/ids";
import type { ObjectStore } from "@chat/common/ports";
import { authPlugin } from "../auth";
import { jsonBody } from "../body";
import type { ManagementDeps } from "../context";
import { errorModels, failures, ok } from "../envelope";
import { IdParams } from "../teams/model";
import type { TeamService } from "../teams/service";
import { attachmentComponents, AttachmentParams, DOWNLOAD_URL_SECONDS, UPLOAD_URL_SECONDS } from "./model";


export const attachmentRoutes = (deps: ManagementDeps, teams: TeamService, objects?: ObjectStore) => {
  /** Stores serving their own URLs answer with paths: made absolute on PUBLIC_URL, never on the request's Host. */
  const absolute = (url: string) => {
    if (/^https?:\/\//.test(url)) return url;
    const base = deps.publicUrl?.() ?? deps.config.publicUrl;
    if (!base) throw new AppError("unavailable", "PUBLIC_URL is not configured");
    return new URL(url, base).toString();
  };
  const store = (): ObjectStore => {
    if (!objects) throw new AppError("unavailable", "attachments are not configured in this process");
    return objects;
  };
  return new Elysia({ name: "attachments", normalize: false })
    .model({ ...errorModels, ...attachmentComponents })
    .use(authPlugin(deps.verify, deps.restLimiter))
    .post(
      "/teams/:id/attachments",
      async ({ principal, params, body, request, set }) => {
        const contentType = normalizeContentType(body.content_type);
        if (!contentType || !contentTypeFits(body.type, contentType))
          throw new AppError("validation", `content_type must be a ${body.type === "file" ? "MIME" : body.type + "/*"} type`);
        if (body.size > deps.config.limits.attachmentBytes)
          throw new AppError("too_large", `attachments are at most ${deps.config.limits.attachmentBytes} bytes`);
        const team = await teams.getAsMember(params.id, principal.user);
        if (!team.active) throw new AppError("conflict", "team is inactive");
        const attachmentId = `${team.id}/${objectId()}`;
        const put = await store().presignPut(attachmentId, {
          contentType,
          size: body.size,
          filename: sanitizeFilename(body.filename),
          expiresIn: UPLOAD_URL_SECONDS,
        });
        set.status = 201;
        return ok({
          attachment_id: attachmentId,
          upload_url: absolute(put.url),
          upload_headers: put.headers,
          expires_at: put.expiresAt.toISOString(),
        });
      },
      {
        parse: [jsonBody(deps.config.limits.jsonBodyBytes), "json"],
        params: IdParams,
        body: "CreateAttachmentRequest",
        response: { 201: "AttachmentResponse", ...failures("validation", "unauthenticated", "forbidden", "not_found", "conflict", "too_large", "unsupported_media_type", "unavailable") },
        detail: { tags: ["attachments"], summary: "Start an upload (members): a presigned PUT bound to size and content type" },
      },
    )
    .get(
      "/attachments/:team_id/:id",
      async ({ principal, params, request, set }) => {
        await teams.getAsMember(params.team_id, principal.user);
        const key = `${params.team_id}/${params.id}`;
        const info = await store().stat(key);
        if (!info) throw new AppError("not_found", "no such attachment (not uploaded yet?)");
        const url = absolute(await store().presignGet(key, { expiresIn: DOWNLOAD_URL_SECONDS, filename: info.filename }));
        set.status = 302;
        set.headers.location = url;
        set.headers["cache-control"] = "no-store";
        return ok({ url });
      },
      {
        params: AttachmentParams,
        response: {
          302: t.Object({ data: t.Object({ url: t.String() }) }, { description: "redirect (Location) to a short-lived presigned GET" }),
          ...failures("validation", "unauthenticated", "forbidden", "not_found", "unavailable"),
        },
        detail: { tags: ["attachments"], summary: "Download (members of the attachment's team): 302 to a short-lived presigned URL" },
      },
    );
};

/** The filesystem store's presigned URLs, served here: the signature is the authorization, no bearer token. */
export const objectRoutes = (objects: ObjectStore & { serve: (r: Request) => Promise<Response> }) => {
  const prefix = (objects.pathPrefix ?? "/v1/objects").replace(/^\/v1/, "");
  const serve = ({ request }: { request: Request }) => objects.serve(request);
  return new Elysia({ name: "objects", normalize: false })
    .get(`${prefix}/*`, serve, { detail: { hide: true } })
    .head(`${prefix}/*`, serve, { detail: { hide: true } })
    .put(`${prefix}/*`, serve, { parse: "none", detail: { hide: true } });
};
