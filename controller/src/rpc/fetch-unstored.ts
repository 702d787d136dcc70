import { create } from "@bufbuild/protobuf";
import { FetchUnstoredResponseSchema, type FetchUnstoredRequest } from "@chat/proto/chat/v1/controller_pb";
import type { RpcContext } from "./context";
import { channelId, userId } from "./validate";

const MAX_PAGE = 10_000;

/** Messages published but not yet stored here, after `after_seq`, that the viewer may see. */
export function fetchUnstored(rpc: RpcContext, req: FetchUnstoredRequest) {
  const viewer = req.viewer === "" ? "" : userId(req.viewer);
  const limit = Math.min(MAX_PAGE, Math.max(1, req.limit || MAX_PAGE));
  const after = req.afterSeq < 0n ? 0n : req.afterSeq;
  return create(FetchUnstoredResponseSchema, { events: rpc.unstored.since(channelId(req.channelId), viewer, after, limit) });
}
