import { openapi } from "@elysiajs/openapi";

/**
 * `/v1/openapi.json`, generated from the route schemas, and `/v1/docs`, a Scalar page reading it.
 * Routes say which errors they answer (see `failures`); every route needs a bearer token
 * unless its `detail.security` is empty.
 */
export const docsRoutes = () =>
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
