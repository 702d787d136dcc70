import { create } from "@bufbuild/protobuf";
import { PublishTypingResponseSchema, type PublishTypingRequest } from "@chat/proto/chat/v1/controller_pb";
import type { RpcContext } from "./context";
import { channelId, relayId, userId } from "./validate";

/** The relay has authorized the typist; this throttles and forwards (never stored). */
export function publishTyping(rpc: RpcContext, req: PublishTypingRequest) {
  relayId(req.relayId);
  if (req.to !== "*") userId(req.to);
  return create(PublishTypingResponseSchema, { forwarded: rpc.ephemeral.typing(channelId(req.channelId), userId(req.user), req.to) });
}
