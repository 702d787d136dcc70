import { ConnectError } from "@connectrpc/connect";
import { isUserId } from "@chat/common/auth";
import { connectCode } from "@chat/common/errors";
import { isObjectId } from "@chat/common/ids";

const invalid = (what: string) => new ConnectError(`${what} is invalid`, connectCode.validation);
const RELAY_ID = /^[\w.:-]{1,128}$/;

export function channelId(v: string): string {
  if (!isObjectId(v)) throw invalid("channel_id");
  return v;
}
export function channelIds(v: string[], max = 100_000): string[] {
  if (v.length > max) throw invalid("channel_ids");
  return v.map(channelId);
}
export function userId(v: string): string {
  if (!isUserId(v)) throw invalid("user_id");
  return v;
}
export function relayId(v: string): string {
  if (!RELAY_ID.test(v)) throw invalid("relay_id");
  return v;
}
