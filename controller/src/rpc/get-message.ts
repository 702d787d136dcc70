import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { connectCode } from "@chat/common/errors";
import { isObjectId } from "@chat/common/ids";
import { getRecentMessage, type MessageInfo } from "@chat/common/lifecycle";
import { GetMessageResponseSchema, type GetMessageRequest } from "@chat/proto/chat/v1/controller_pb";
import type { RpcContext } from "./context";
import { channelId } from "./validate";

/**
 * A message as the lifecycle rules need it: one published but not stored yet from memory (whether an
 * op on it takes effect is decided again when the op is stored, in log order), else from the store,
 * where a just-sent id is waited for briefly (getRecentMessage).
 */
export async function getMessage(rpc: RpcContext, req: GetMessageRequest, signal?: AbortSignal) {
  const ch = channelId(req.channelId);
  if (!isObjectId(req.id)) throw new ConnectError("id is invalid", connectCode.validation);
  const hot = rpc.unstored.message(ch, req.id);
  if (hot) return messageResponse(hot);
  return messageResponse(await getRecentMessage(() => rpc.messages.getMessage(ch, req.id), req.id, signal));
}

export function messageResponse(m: MessageInfo | null) {
  if (!m) return create(GetMessageResponseSchema, { found: false });
  return create(GetMessageResponseSchema, {
    found: true,
    channelId: m.channel_id,
    id: m.id,
    seq: BigInt(m.seq),
    from: m.from,
    to: m.to,
    type: m.type,
    deleted: m.deleted,
    replyTo: m.reply_to ?? "",
    emoji: m.emoji,
  });
}
