import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import { errorDescriptions } from "./envelope";

/**
 * `/v1/openapi.json`, generated from the route schemas, and `/v1/docs`, a Scalar page reading it.
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
    documentation: {
      info: {
        title: "Chat management API",
        version: "1.0.0",
        description:
          "Teams, members, history and attachments. Success is `{\"data\": ...}` (lists add `next`); failure is " +
          '`{"error":{"code","message"}}`. Real-time messaging is the WebSocket at `GET /v1/ws`; the protocol for clients is in docs/ of the repository (docs/websocket.md, docs/rest.md, docs/errors.md).',
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
      },
    },
  });

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
