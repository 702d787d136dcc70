import { create } from "@bufbuild/protobuf";
import { AppError } from "@chat/common/errors";
import { isClientMsgId } from "@chat/common/grammar";
import { sleep } from "@chat/common/retry";
import { LookupClientMessageResponseSchema, type LookupClientMessageRequest } from "@chat/proto/chat/v1/controller_pb";
import type { RpcContext } from "./context";
import { channelId, userId } from "./validate";

/** Longest a relay may make us wait for a verdict; it answers `unavailable` to its client past that. */
export const MAX_LOOKUP_WAIT_MS = 10_000;

/**
 * The message stored under (channel, sender, client_msg_id). With `wait_ms`, polls the store until
 * it appears: a relay waiting for the verdict on its own append learns whether its message or an
 * earlier one under the same key was stored.
 */
export async function lookupClientMessage(rpc: RpcContext, req: LookupClientMessageRequest, signal?: AbortSignal) {
  const ch = channelId(req.channelId);
  const user = userId(req.user);
  if (!isClientMsgId(req.clientMsgId)) throw new AppError("validation", "client_msg_id is invalid");
  const deadline = Date.now() + Math.min(req.waitMs, MAX_LOOKUP_WAIT_MS);
  let found = await rpc.messages.lookupClientMessage(ch, user, req.clientMsgId);
  // Polls back off to 400 ms: a verdict waits for the consumer, which a busy store slows further.
  for (let pause = 20; !found && Date.now() < deadline && !signal?.aborted; pause = Math.min(pause * 2, 400)) {
    await sleep(Math.min(pause, deadline - Date.now()), signal);
    found = await rpc.messages.lookupClientMessage(ch, user, req.clientMsgId);
  }
  if (!found) return create(LookupClientMessageResponseSchema, { found: false });
  return create(LookupClientMessageResponseSchema, { found: true, id: found.id, seq: BigInt(found.seq), ts: found.ts });
}
