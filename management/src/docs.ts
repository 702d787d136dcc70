import { openapi } from "@elysiajs/openapi";
import { dirname, join } from "node:path";
import { Elysia, t } from "elysia";
import type { Config } from "@chat/common/config";
import { asyncApiDocument } from "./asyncapi";
import { errorDescriptions } from "./envelope";

/**
 * The docs page runs offline: Swagger UI comes from the pinned swagger-ui-dist package (no
 * dependencies of its own) in node_modules, served under /v1/docs/assets/, never from a CDN.
 */
const SWAGGER_DIR = dirname(Bun.resolveSync("swagger-ui-dist/package.json", import.meta.dir));
const ASSETS = {
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui.css": "text/css; charset=utf-8",
} as const;

/**
 * `/v1/openapi.json`, generated from the route schemas, and `/v1/docs`, a Swagger UI page reading it.
 * Routes say which errors they answer (see `failures`); every route needs a bearer token
 * unless its `detail.security` is empty.
 */
export const docsRoutes = () =>
  new Elysia({ name: "docs" })
    .onAfterHandle({ as: "local" }, ({ path, response }) => {
      if (path.endsWith("/openapi.json")) describeErrors(response as OpenApiDoc);
    })
    .use(openapiDocument());

const openapiDocument = () =>
  openapi({
    path: "/docs",
    specPath: "/openapi.json",
    provider: "swagger-ui",
    swagger: {
      cdn: "/v1/docs/assets/swagger-ui-bundle.js",
      theme: "/v1/docs/assets/swagger-ui.css",
      url: "/v1/openapi.json",
    } as Record<string, unknown>,
    documentation: {
      info: {
        title: "Chat management API",
        version: "1.0.0",
        description:
          "Teams, members, history and attachments. Success is `{\"data\": ...}` (lists add `next`); failure is " +
          '`{"error":{"code","message"}}`. Real-time messaging is the WebSocket at `GET /v1/ws`; the protocol for clients is in docs/ of the repository (docs/websocket.md, docs/rest.md, docs/errors.md), and as AsyncAPI at [/v1/asyncapi.json](/v1/asyncapi.json).',
      },
      tags: [
        { name: "teams", description: "Teams the caller belongs to" },
        { name: "members", description: "Membership and roles" },
        { name: "messages", description: "History" },
        { name: "attachments", description: "Presigned uploads and downloads" },
        { name: "ops", description: "Health, readiness, metrics, this document" },
      ],
      components: {
        securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
      },
      security: [{ bearer: [] }],
      // The plugin hides its own routes; the document lists itself (the docs page is for people).
      paths: {
        "/v1/openapi.json": {
          get: {
            tags: ["ops"],
            summary: "This document",
            operationId: "getV1OpenapiJson",
            security: [],
            responses: { "200": { description: "OpenAPI 3.1 document", content: { "application/json": { schema: { type: "object" } } } } },
          },
        },
        "/v1/asyncapi.json": {
          get: {
            tags: ["ops"],
            summary: "The WebSocket protocol (GET /v1/ws) as an AsyncAPI 3 document",
            operationId: "getV1AsyncapiJson",
            security: [],
            responses: { "200": { description: "AsyncAPI 3.0 document", content: { "application/json": { schema: { type: "object" } } } } },
          },
        },
      },
    },
  });

/** Swagger UI's files, and the WebSocket protocol as AsyncAPI (`/v1/asyncapi.json`). */
export const docsAssetRoutes = (config: Pick<Config, "publicUrl" | "port">) => {
  const files = new Map(Object.entries(ASSETS).map(([name, type]) => [name, { file: Bun.file(join(SWAGGER_DIR, name)), type }]));
  const asyncapi = JSON.stringify(asyncApiDocument(config));
  return new Elysia({ name: "docs-assets", normalize: false })
    .get(
      "/docs/assets/:name",
      ({ params, set }) => {
        const asset = files.get(params.name);
        if (!asset) {
          set.status = 404;
          return { error: { code: "not_found", message: "no such route" } };
        }
        return new Response(asset.file, { headers: { "content-type": asset.type, "cache-control": "public, max-age=86400" } });
      },
      { params: t.Object({ name: t.String() }), detail: { hide: true } },
    )
    // Documented by hand above: the generator skips paths with a dot, as for openapi.json.
    .get("/asyncapi.json", () => new Response(asyncapi, { headers: { "content-type": "application/json" } }), { detail: { hide: true } });
};

type OpenApiDoc = { paths?: Record<string, Record<string, { responses?: Record<string, { description?: string; content?: Record<string, { schema?: { $ref?: string } }> }> }>> };

/**
 * Error responses all refer to the one `Error` component, whose description the generator copies to
 * each of them; what the status means for the route is the useful description. Idempotent (the plugin caches the document).
 */
function describeErrors(doc: OpenApiDoc): void {
  for (const ops of Object.values(doc.paths ?? {}))
    for (const op of Object.values(ops))
      for (const [status, res] of Object.entries(op.responses ?? {}))
        if (res.content?.["application/json"]?.schema?.$ref === "#/components/schemas/Error" && errorDescriptions[status]) res.description = errorDescriptions[status];
}
