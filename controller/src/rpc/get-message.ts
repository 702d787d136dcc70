import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { connectCode } from "@chat/common/errors";
import { isObjectId } from "@chat/common/ids";
import type { MessageInfo } from "@chat/common/lifecycle";
import { GetMessageResponseSchema, type GetMessageRequest } from "@chat/proto/chat/v1/controller_pb";
import type { RpcContext } from "./context";
import { channelId } from "./validate";

/** How young an id must be to be waited for, and how long at most (the store lags the log by a batch). */
const RECENT_MS = 10_000;
const MAX_WAIT_MS = 2_000;

/**
 * A message as the lifecycle rules need it. The relay asks right after a client saw the message
 * live, which can be before the controller that stored it finished its batch: an unknown id
 * minted in the last seconds is looked up again with a bounded backoff before it is not found.
 */
export async function getMessage(rpc: RpcContext, req: GetMessageRequest, signal?: AbortSignal) {
  const ch = channelId(req.channelId);
  if (!isObjectId(req.id)) throw new ConnectError("id is invalid", connectCode.validation);
  const mintedAt = parseInt(req.id.slice(0, 8), 16) * 1000;
  const deadline = Date.now() + MAX_WAIT_MS;
  let m = await rpc.messages.getMessage(ch, req.id);
  for (let pause = 20; !m && Date.now() - mintedAt < RECENT_MS && Date.now() + pause <= deadline && !signal?.aborted; pause *= 2) {
    await Bun.sleep(pause);
    m = await rpc.messages.getMessage(ch, req.id);
  }
  return messageResponse(m);
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
