import { create } from "@bufbuild/protobuf";
import { FetchUnstoredResponseSchema, type FetchUnstoredRequest } from "@chat/proto/chat/v1/controller_pb";
import type { RpcContext } from "./context";
import { channelPage } from "./validate";

const MAX_PAGE = 10_000;

/** Messages published but not yet stored here, after `after_seq`, that the viewer may see. */
export function fetchUnstored(rpc: RpcContext, req: FetchUnstoredRequest) {
  const { channel, viewer, after, limit } = channelPage(req, MAX_PAGE);
  return create(FetchUnstoredResponseSchema, { events: rpc.unstored.since(channel, viewer ?? "", after, limit) });
}
