import { create } from "@bufbuild/protobuf";
import { GetChannelResponseSchema, GetUserChannelsResponseSchema, type GetChannelRequest, type GetUserChannelsRequest } from "@chat/proto/chat/v1/controller_pb";
import { getTeam, inlineMembers } from "@chat/common/membership";
import type { RpcContext } from "./context";
import { channelId, userId } from "./validate";

export async function getUserChannels(rpc: RpcContext, req: GetUserChannelsRequest) {
  return create(GetUserChannelsResponseSchema, { channelIds: await rpc.teams.channelsOf(userId(req.userId)) });
}

export async function getChannel(rpc: RpcContext, req: GetChannelRequest) {
  const team = await getTeam(rpc.teams, channelId(req.channelId));
  if (!team) return create(GetChannelResponseSchema, { found: false });
  const members = (await inlineMembers(rpc.teams, team)) ?? [];
  return create(GetChannelResponseSchema, {
    found: true,
    active: team.active,
    members: members.map((m) => m.user_id),
    admins: members.filter((m) => m.role !== "user").map((m) => m.user_id),
    superAdmin: team.super_admin,
  });
}
