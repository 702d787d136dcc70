import { create } from "@bufbuild/protobuf";
import { FetchSinceResponseSchema, type FetchSinceRequest } from "@chat/proto/chat/v1/controller_pb";
import { storedToEvent, toEvent } from "../events";
import type { RpcContext } from "./context";
import { channelPage } from "./validate";

const MAX_PAGE = 1000;

/** Every event after `after_seq` the viewer may see: messages in current state, then later changes to older ones (lifecycle). */
export async function fetchSince(rpc: RpcContext, req: FetchSinceRequest) {
  const { channel, viewer, after, limit } = channelPage(req, MAX_PAGE);
  const items = await rpc.messages.eventsSince(channel, viewer, Number(after), limit);
  return create(FetchSinceResponseSchema, { events: items.map((i) => (i.message ? storedToEvent(i.message) : toEvent(i.entry, i.seq))) });
}
