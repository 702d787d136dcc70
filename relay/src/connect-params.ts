import { AppError } from "@chat/common/errors";
import { isObjectId, parseDecimal } from "@chat/common/grammar";

const MAX_PARAMS = 100;

/** `?channel_id=<team>` (repeatable) and `?since=<team>:<seq>` (repeatable), checked before any socket exists. */
export function parseConnectParams(params: URLSearchParams): { named: string[]; since: Map<string, number> } {
  const named = params.getAll("channel_id");
  const sinceParams = params.getAll("since");
  if (named.length > MAX_PARAMS || sinceParams.length > MAX_PARAMS) throw new AppError("validation", "too many channel_id or since parameters");
  if (!named.every(isObjectId)) throw new AppError("validation", "channel_id must be a team id");
  const since = new Map<string, number>();
  for (const s of sinceParams) {
    const channel = s.slice(0, 24);
    const seq = s[24] === ":" ? parseDecimal(s.slice(25)) : undefined;
    if (!isObjectId(channel) || seq === undefined) throw new AppError("validation", "since must be <channel_id>:<seq>");
    since.set(channel, seq);
  }
  return { named: [...new Set(named)], since };
}
