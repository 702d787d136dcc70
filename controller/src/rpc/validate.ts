import { AppError } from "@chat/common/errors";
import { isObjectId, isUserId } from "@chat/common/grammar";

/** Refusals are catalog errors; the error interceptor maps them to Connect codes like any other. */
const invalid = (what: string) => new AppError("validation", `${what} is invalid`);
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
/** A position in a relay instance's stream (Subscribe): 0 … 2^53 − 1. */
export function afterPosition(v: bigint): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid("after_position");
  return Number(v);
}
/** An optional id of the RELAY_ID grammar: empty, or 1–128 of [A-Za-z0-9_.:-] (a relay instance, an epoch). */
function optionalId(v: string, field: string): string {
  if (v !== "" && !RELAY_ID.test(v)) throw invalid(field);
  return v;
}
/** The epoch a relay got with its last response (Subscribe). */
export const streamEpoch = (v: string) => optionalId(v, "after_epoch");
/** A relay process's random id (Subscribe). */
export const relayInstance = (v: string) => optionalId(v, "instance");

/** A page request over a channel's events (FetchSince, FetchUnstored): `viewer` undefined = every event. */
export function channelPage(req: { channelId: string; viewer: string; afterSeq: bigint; limit: number }, maxPage: number) {
  return {
    channel: channelId(req.channelId),
    viewer: req.viewer === "" ? undefined : userId(req.viewer),
    after: req.afterSeq < 0n ? 0n : req.afterSeq,
    limit: Math.min(maxPage, Math.max(1, req.limit || maxPage)),
  };
}
