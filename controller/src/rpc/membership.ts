import { create } from "@bufbuild/protobuf";
import { GetChannelResponseSchema, GetUserChannelsResponseSchema, type GetChannelRequest, type GetUserChannelsRequest } from "@chat/proto/chat/v1/controller_pb";
import type { RpcContext } from "./context";
import { channelId, userId } from "./validate";

export async function getUserChannels(rpc: RpcContext, req: GetUserChannelsRequest) {
  return create(GetUserChannelsResponseSchema, { channelIds: await rpc.teams.channelsOf(userId(req.userId)) });
}

export async function getChannel(rpc: RpcContext, req: GetChannelRequest) {
  const team = await rpc.teams.get(channelId(req.channelId));
  if (!team) return create(GetChannelResponseSchema, { found: false });
  return create(GetChannelResponseSchema, { found: true, active: team.active, members: team.members, admins: team.admins, superAdmin: team.super_admin });
}
