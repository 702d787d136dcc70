import { create } from "@bufbuild/protobuf";
import { FetchSinceResponseSchema, type FetchSinceRequest } from "@chat/proto/chat/v1/controller_pb";
import { storedToEvent, toEvent } from "../events";
import type { RpcContext } from "./context";
import { channelId, userId } from "./validate";

const MAX_PAGE = 1000;

/** Every event after `after_seq` the viewer may see: messages in current state, then later changes to older ones (lifecycle). */
export async function fetchSince(rpc: RpcContext, req: FetchSinceRequest) {
  const viewer = req.viewer === "" ? undefined : userId(req.viewer);
  const limit = Math.min(MAX_PAGE, Math.max(1, req.limit || MAX_PAGE));
  const after = Number(req.afterSeq < 0n ? 0n : req.afterSeq);
  const items = await rpc.messages.eventsSince(channelId(req.channelId), viewer, after, limit);
  return create(FetchSinceResponseSchema, { events: items.map((i) => (i.message ? storedToEvent(i.message) : toEvent(i.entry, i.seq))) });
}
