import type { Config } from "@chat/common/config";

/**
 * The WebSocket protocol (`GET /v1/ws`, PROTOCOL.md §3, §9–§11) as an AsyncAPI 3 document, served
 * at `/v1/asyncapi.json` beside the OpenAPI one. Written by hand: the relay has no schema to derive
 * it from. docs/websocket.md is the prose version; management/test/asyncapi.test.ts validates this.
 */
const ID = { type: "string", pattern: "^[0-9a-f]{24}$", description: "24 lowercase hex (a MongoDB ObjectId)" };
const USER = { type: "string", minLength: 1, maxLength: 320, description: "a user id (the JWT sub)" };
const SEQ = { type: "integer", minimum: 1, description: "position in the channel's log: strictly increasing per channel, gaps allowed" };
const TS = { type: "string", format: "date-time" };
const CLIENT_MSG_ID = { type: "string", minLength: 1, maxLength: 64, pattern: "^[!-~]+$", description: "idempotency key, echoed by the ack or error" };
const TO = { type: "string", description: '"*" (the whole team) or a member\'s user id (a direct message)' };
const TYPE = { type: "string", enum: ["text", "image", "video", "audio", "file"] };
const EMOJI = { type: "string", minLength: 1, maxLength: 32, pattern: "^\\S+$" };

const obj = (required: string[], properties: Record<string, unknown>, description?: string) => ({
  type: "object",
  required,
  properties,
  ...(description ? { description } : {}),
});
const event = (name: string, required: string[], properties: Record<string, unknown>, description: string) =>
  obj(["event", ...required], { event: { const: name }, ...properties }, description);
const op = (name: string, required: string[], properties: Record<string, unknown>, description: string) =>
  obj(["op", ...required], { op: { const: name }, ...properties, client_msg_id: CLIENT_MSG_ID }, description);

const schemas = {
  // client → server
  send: obj(
    ["channel_id", "to", "type", "data"],
    {
      channel_id: ID,
      to: TO,
      type: TYPE,
      data: { type: "string", minLength: 1, description: "text (at most 4,000 characters), or an attachment id <team_id>/<id> of this team" },
      client_msg_id: CLIENT_MSG_ID,
      reply_to: { ...ID, description: "§9: the message replied to; a reply to a reply attaches to its root" },
    },
    "A message (a frame without `op`); with `reply_to` a reply (§9).",
  ),
  edit: op("edit", ["channel_id", "id", "data"], { channel_id: ID, id: ID, data: { type: "string", minLength: 1 } }, "§9: the author edits a text message."),
  delete: op("delete", ["channel_id", "id"], { channel_id: ID, id: ID }, "§9: the author, or the team's admins, delete a message."),
  react: op("react", ["channel_id", "id", "emoji", "on"], { channel_id: ID, id: ID, emoji: EMOJI, on: { type: "boolean" } }, "§9: add (on) or remove a reaction."),
  read: op("read", ["channel_id", "seq"], { channel_id: ID, seq: SEQ }, "§9: move the read marker forward."),
  typing: obj(["op", "channel_id", "to"], { op: { const: "typing" }, channel_id: ID, to: TO }, "§10: ephemeral; at most one forwarded per user and channel per 2 s."),
  refresh: op("refresh", ["token"], { token: { type: "string", description: "a fresh JWT for the same sub" } }, "§11: extend the socket past the current token's exp."),
  // server → client
  ready: event(
    "ready",
    ["user", "channels"],
    {
      user: USER,
      channels: { type: "array", items: ID },
      expires_at: { ...TS, description: "§11: the token's exp" },
      typing_ttl_ms: { type: "integer", description: "§10: how long to show a typing indicator" },
    },
    "Once, first.",
  ),
  message: event(
    "message",
    ["id", "seq", "channel_id", "to", "type", "data", "ts", "from"],
    { id: ID, seq: SEQ, channel_id: ID, to: TO, type: TYPE, data: { type: "string" }, ts: TS, from: USER, client_msg_id: CLIENT_MSG_ID, reply_to: ID },
    "A message: `from` and `ts` are set by the server.",
  ),
  ack: event(
    "ack",
    [],
    { op: { type: "string", description: "the op acknowledged; absent for a send" }, client_msg_id: CLIENT_MSG_ID, id: ID, seq: SEQ, ts: TS, expires_at: { ...TS, description: "refresh acks only" } },
    "Sent to the sender once the message or op is durable (a refresh ack carries `expires_at`).",
  ),
  error: event(
    "error",
    ["code", "message"],
    {
      code: { type: "string", enum: ["invalid_message", "forbidden", "not_found", "too_large", "rate_limited", "unavailable"] },
      message: { type: "string" },
      client_msg_id: CLIENT_MSG_ID,
    },
    "A refused frame; it never closes the socket and never reaches anyone else.",
  ),
  membership: obj(
    ["event", "channel_id", "user", "by", "seq"],
    { event: { type: "string", enum: ["member_joined", "member_left", "admin_added", "admin_removed"] }, channel_id: ID, user: USER, by: USER, seq: SEQ },
    "Membership changes, in order with the channel's messages.",
  ),
  channel_left: event("channel_left", ["channel_id"], { channel_id: ID }, "To a removed member's own sockets; nothing more of that team follows."),
  message_edited: event("message_edited", ["channel_id", "id", "seq", "data", "edited_at", "by"], { channel_id: ID, id: ID, seq: SEQ, data: { type: "string" }, edited_at: TS, by: USER }, "§9"),
  message_deleted: event("message_deleted", ["channel_id", "id", "seq", "by"], { channel_id: ID, id: ID, seq: SEQ, by: USER }, "§9: the content is gone from then on."),
  reaction: obj(
    ["event", "channel_id", "id", "seq", "emoji", "user"],
    { event: { type: "string", enum: ["reaction_added", "reaction_removed"] }, channel_id: ID, id: ID, seq: SEQ, emoji: EMOJI, user: USER },
    "§9",
  ),
  read_marker: event("read", ["channel_id", "seq", "user"], { channel_id: ID, seq: SEQ, user: USER }, "§9: only to that user's own sockets."),
  typing_event: event("typing", ["channel_id", "user", "to"], { channel_id: ID, user: USER, to: TO }, "§10: ephemeral, no seq."),
  presence: event(
    "presence",
    ["channel_id", "online", "offline"],
    { channel_id: ID, online: { type: "array", items: USER }, offline: { type: "array", items: USER } },
    "§10: batched per channel, at most one per second.",
  ),
  token_expiring: event("token_expiring", ["expires_at"], { expires_at: TS }, "§11: 60 s before exp (at once if less remains)."),
};

const title: Record<keyof typeof schemas, string> = {
  send: "Send a message",
  edit: "Edit a message",
  delete: "Delete a message",
  react: "React to a message",
  read: "Mark read",
  typing: "Typing",
  refresh: "Refresh the token",
  ready: "Ready",
  message: "Message",
  ack: "Ack",
  error: "Error",
  membership: "Membership event",
  channel_left: "Channel left",
  message_edited: "Message edited",
  message_deleted: "Message deleted",
  reaction: "Reaction added or removed",
  read_marker: "Read marker moved",
  typing_event: "Someone is typing",
  presence: "Presence",
  token_expiring: "Token expiring",
};
const SENT = ["send", "edit", "delete", "react", "read", "typing", "refresh"] as const;
const RECEIVED = Object.keys(schemas).filter((k) => !(SENT as readonly string[]).includes(k)) as (keyof typeof schemas)[];
const ref = (k: string) => ({ $ref: `#/channels/socket/messages/${k}` });

export function asyncApiDocument(config: Pick<Config, "publicUrl" | "port">) {
  const base = config.publicUrl ? new URL(config.publicUrl) : new URL(`http://localhost:${config.port || 8080}`);
  return {
    asyncapi: "3.0.0",
    info: {
      title: "Chat WebSocket protocol",
      version: "1.0.0",
      description:
        "Real-time messaging on `GET /v1/ws`: every frame is one JSON object in a text frame; server frames carry `event`, client frames other than a send carry `op`. " +
        "Resume with `?since=<channel_id>:<seq>` (repeatable). Close codes: 1001 server shutting down, 1013 client too slow, 4001 token expired, 4003 refresh token for another user. " +
        "The REST API is described at /v1/openapi.json; the prose is in docs/websocket.md of the repository.",
    },
    defaultContentType: "application/json",
    servers: {
      chat: {
        host: base.host,
        protocol: base.protocol === "https:" ? "wss" : "ws",
        pathname: "/v1/ws",
        description: "The public port: standalone, or nginx in front of the relays.",
        security: [{ $ref: "#/components/securitySchemes/bearer" }, { $ref: "#/components/securitySchemes/accessToken" }],
      },
    },
    channels: {
      socket: {
        address: "/v1/ws",
        title: "The user's socket",
        description: "One socket carries every team (channel) the user is in, or those named by `channel_id`.",
        messages: Object.fromEntries(Object.keys(schemas).map((k) => [k, { $ref: `#/components/messages/${k}` }])),
        bindings: {
          ws: {
            method: "GET",
            query: {
              type: "object",
              properties: {
                access_token: { type: "string", description: "the JWT, for browsers (which cannot set headers); never logged" },
                channel_id: { type: "array", items: ID, maxItems: 100, description: "repeatable: limit the socket to these teams" },
                since: { type: "array", items: { type: "string", pattern: "^[0-9a-f]{24}:\\d{1,15}$" }, maxItems: 100, description: "repeatable <channel_id>:<seq>: replay what came after seq" },
              },
            },
          },
        },
      },
    },
    operations: {
      sendFrames: {
        action: "send",
        channel: { $ref: "#/channels/socket" },
        summary: "What a client sends: messages and ops",
        messages: SENT.map(ref),
      },
      receiveEvents: {
        action: "receive",
        channel: { $ref: "#/channels/socket" },
        summary: "What the server sends: events",
        messages: RECEIVED.map(ref),
      },
    },
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "Authorization: Bearer <jwt> on the upgrade request" },
        accessToken: { type: "httpApiKey", name: "access_token", in: "query", description: "the JWT as ?access_token=, for browsers" },
      },
      schemas,
      messages: Object.fromEntries(
        Object.keys(schemas).map((k) => [k, { name: k, title: title[k as keyof typeof schemas], payload: { $ref: `#/components/schemas/${k}` } }]),
      ),
    },
  };
}

/** Every `event` a server frame can carry, as the document names them (the tests hold the SDK to it). */
export const ASYNCAPI_EVENTS = [
  ...RECEIVED.flatMap((k) => {
    const p = schemas[k].properties.event as { const?: string; enum?: string[] };
    return p.const ? [p.const] : (p.enum ?? []);
  }),
];
