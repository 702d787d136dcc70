import { t } from "elysia";
import { MAX_EMOJI_CHARS } from "@chat/common/lifecycle";
import { MESSAGE_TYPES } from "@chat/common/message";
import { rules } from "@chat/common/grammar";
import { ref } from "../envelope";
import { grammar, jsonInteger, queryInteger } from "../grammar";
import { TeamId } from "../teams/model";

export const MessageId = grammar(rules.objectId, { description: "message id (ObjectId, 24 lowercase hex)" });

/** Any client may ask for the page the protocol promises; a server configured lower answers shorter pages, not 400. */
const CONTRACT_PAGE = 100;
export const DEFAULT_PAGE = 50;

/** `maxPage` is LIMIT_HISTORY_PAGE. */
export const historyQuery = (maxPage: number) =>
  t.Object(
    {
      before: t.Optional(queryInteger({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: "only messages with a smaller seq: the `next` of the previous page" })),
      limit: t.Optional(
        queryInteger({
          minimum: 1,
          maximum: Math.max(CONTRACT_PAGE, maxPage),
          description: `page size (default ${Math.min(DEFAULT_PAGE, maxPage)}); pages hold at most ${maxPage} (LIMIT_HISTORY_PAGE)`,
        }),
      ),
      thread: t.Optional(grammar(rules.objectId, { description: "a thread root's id: only that thread, root included" })),
    },
    { additionalProperties: false },
  );

const Seq = jsonInteger({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
export const Message = t.Object(
  {
    id: t.String({ description: "message id (ObjectId, 24 lowercase hex)" }),
    seq: Seq,
    channel_id: t.String({ description: "the team" }),
    to: t.String({ description: '"*" for the whole team, else the recipient of a direct message' }),
    type: t.UnionEnum([...MESSAGE_TYPES]),
    data: t.Optional(t.String({ description: "text (after edits), or an attachment id; absent once deleted" })),
    ts: t.String({ format: "date-time" }),
    from: t.String({ description: "the sender's user id" }),
    client_msg_id: t.Optional(t.String()),
    reply_to: t.Optional(t.String({ description: "replies: the thread root's id" })),
    edited_at: t.Optional(t.String({ format: "date-time" })),
    deleted: t.Optional(t.Literal(true)),
    reply_count: t.Optional(jsonInteger({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "roots with replies: how many" })),
    last_reply_seq: t.Optional(Seq),
    reactions: t.Optional(t.Array(t.Object({ emoji: t.String(), count: jsonInteger({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), me: t.Boolean() }), { description: "oldest emoji first; `me`: the caller reacted with it" })),
  },
  { description: "a message in its current state: `seq` strictly increases within a team" },
);
export const MessagePage = t.Object(
  {
    data: t.Array(ref("Message", Message)),
    next: t.Union([Seq, t.Null()], { description: "the `before` of the next page; null on the last" }),
  },
  { description: "a page of history, newest first" },
);
/** Named in the OpenAPI document's components. */
export const messageComponents = { Message, MessagePage };

export const MessageParams = t.Object({ id: TeamId, msg: MessageId });
export const ReactionParams = t.Object({
  id: TeamId,
  msg: MessageId,
  emoji: t.String({ minLength: 1, maxLength: MAX_EMOJI_CHARS * 2, description: "1-32 characters, no whitespace (URL-encoded)" }),
});
export const EditBody = t.Object({ data: t.String({ minLength: 1, description: "the new text (text messages only, author only)" }) }, { additionalProperties: false });
export const ReadBody = t.Object(
  { seq: jsonInteger({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "the newest seq read; the marker only moves forward" }) },
  { additionalProperties: false },
);

/** What the op's log entry got: the same fields as the WebSocket ack. */
export const OpAck = t.Object({
  data: t.Object({
    op: t.UnionEnum(["edit", "delete", "react", "read"]),
    id: t.Optional(t.String({ description: "the message (absent for read)" })),
    seq: jsonInteger({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "the seq of the op's log entry" }),
    ts: t.String({ format: "date-time" }),
  }),
});
export const Reads = t.Object({ data: t.Array(t.Object({ user_id: t.String(), last_read_seq: jsonInteger({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }) })) });
