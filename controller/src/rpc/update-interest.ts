import { create } from "@bufbuild/protobuf";
import { AppError } from "@chat/common/errors";
import { UpdateInterestResponseSchema, type UpdateInterestRequest } from "@chat/proto/chat/v1/controller_pb";
import type { RpcContext } from "./context";
import { channelIds, relayId } from "./validate";

export function updateInterest(rpc: RpcContext, req: UpdateInterestRequest) {
  if (!rpc.hub.updateInterest(relayId(req.relayId), channelIds(req.add), channelIds(req.remove)))
    throw new AppError("not_found", "no open Subscribe stream for this relay");
  return create(UpdateInterestResponseSchema, {});
}
