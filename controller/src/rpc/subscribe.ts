import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { SubscribeResponseSchema, type SubscribeRequest, type SubscribeResponse } from "@chat/proto/chat/v1/controller_pb";
import type { RpcContext } from "./context";
import { afterPosition, channelIds, relayId, relayInstance, streamEpoch } from "./validate";

/** Streams a relay's traffic until the call is aborted or the relay falls too far behind. */
export async function* subscribe(rpc: RpcContext, req: SubscribeRequest, ctx: HandlerContext): AsyncGenerator<SubscribeResponse> {
  const stream = rpc.hub.open(relayId(req.relayId), channelIds(req.channelIds), relayInstance(req.instance), { epoch: streamEpoch(req.afterEpoch), position: afterPosition(req.afterPosition) });
  const at = () => ({ epoch: stream.recent.epoch, position: BigInt(stream.position) });
  rpc.metrics.relayStreams.set(rpc.hub.relayCount);
  rpc.logger.info("relay subscribed", { relay_id: stream.relayId, channels: stream.interest.size, replayed: stream.replayed?.events });
  if (stream.replayed?.incomplete) rpc.logger.warn("a cut-off relay missed more events than the hub keeps; it reads back from the store only channels it has a seq of", { relay_id: stream.relayId });
  try {
    // Every response says how far the relay has this stream's log events (where it starts, first).
    yield create(SubscribeResponseSchema, { events: [], ...at() });
    // Presence first: a relay whose streams were all down may have missed changes; whole states repair that.
    const presence = rpc.ephemeral.snapshot();
    if (presence.length) yield create(SubscribeResponseSchema, { events: presence, ...at() });
    for (;;) {
      const events = await stream.next(ctx.signal);
      if (events.length) yield create(SubscribeResponseSchema, { events, ...at() });
      else if (stream.closedReason || ctx.signal.aborted) break;
    }
  } finally {
    rpc.hub.release(stream);
    rpc.metrics.relayStreams.set(rpc.hub.relayCount);
    rpc.logger.info("relay stream closed", { relay_id: stream.relayId, reason: stream.closedReason ?? "client gone" });
  }
}
