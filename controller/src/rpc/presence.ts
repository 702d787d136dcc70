import { create } from "@bufbuild/protobuf";
import { AppError } from "@chat/common/errors";
import {
  AnnouncePresenceResponseSchema,
  GetPresenceResponseSchema,
  type AnnouncePresenceRequest,
  type GetPresenceRequest,
  type PresenceUpdate,
} from "@chat/proto/chat/v1/controller_pb";
import type { RpcContext } from "./context";
import { channelId, channelIds, relayId, userId } from "./validate";

const MAX_LEASE_MS = 300_000;
const EPOCH = /^[\w-]{1,64}$/;

function valid(u: PresenceUpdate | undefined): PresenceUpdate {
  if (!u) throw new AppError("validation", "update is required");
  relayId(u.relayId);
  if (!EPOCH.test(u.epoch)) throw new AppError("validation", "epoch is invalid");
  if (u.leaseMs < 1 || u.leaseMs > MAX_LEASE_MS) throw new AppError("validation", "lease_ms is invalid");
  if (u.seq < u.baseSeq) throw new AppError("validation", "seq is before base_seq");
  for (const e of u.up) {
    userId(e.user);
    channelIds(e.channelIds, 10_000);
  }
  u.down.forEach(userId);
  return u;
}

/** A relay's presence lease, renewed or changed; `resync` asks for its whole state. */
export function announcePresence(rpc: RpcContext, req: AnnouncePresenceRequest) {
  return create(AnnouncePresenceResponseSchema, { resync: !rpc.ephemeral.announce(valid(req.update)) });
}

export function getPresence(rpc: RpcContext, req: GetPresenceRequest) {
  return create(GetPresenceResponseSchema, { online: rpc.ephemeral.online(channelId(req.channelId)) });
}
