import { create } from "@bufbuild/protobuf";
import { GetMembershipResponseSchema, GetUserChannelsResponseSchema, MemberRole, type GetMembershipRequest, type GetUserChannelsRequest } from "@chat/proto/chat/v1/controller_pb";
import { roleOf } from "@chat/common/membership";
import type { Role } from "@chat/common/teams";
import type { RpcContext } from "./context";
import { channelId, userId } from "./validate";

export async function getUserChannels(rpc: RpcContext, req: GetUserChannelsRequest) {
  return create(GetUserChannelsResponseSchema, { channelIds: await rpc.teams.channelsOf(userId(req.userId)) });
}

const wire: Record<Role, MemberRole> = {
  none: MemberRole.UNSPECIFIED,
  user: MemberRole.USER,
  admin: MemberRole.ADMIN,
  super_admin: MemberRole.SUPER_ADMIN,
};

/** One header read and one row read (the pending change of the header laid over it): never a member list. */
export async function getMembership(rpc: RpcContext, req: GetMembershipRequest) {
  const ch = channelId(req.channelId);
  const user = userId(req.userId);
  const team = await rpc.teams.get(ch);
  if (!team) return create(GetMembershipResponseSchema, { found: false });
  return create(GetMembershipResponseSchema, { found: true, active: team.active, role: wire[await roleOf(rpc.teams, team, user)] });
}
