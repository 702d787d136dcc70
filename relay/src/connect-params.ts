import { AppError } from "@chat/common/errors";
import { isObjectId } from "@chat/common/ids";

const MAX_PARAMS = 100;
const SINCE = /^([0-9a-f]{24}):(\d{1,15})$/;

/** `?channel_id=<team>` (repeatable) and `?since=<team>:<seq>` (repeatable), checked before any socket exists. */
export function parseConnectParams(params: URLSearchParams): { named: string[]; since: Map<string, number> } {
  const named = params.getAll("channel_id");
  const sinceParams = params.getAll("since");
  if (named.length > MAX_PARAMS || sinceParams.length > MAX_PARAMS) throw new AppError("validation", "too many channel_id or since parameters");
  if (!named.every(isObjectId)) throw new AppError("validation", "channel_id must be a team id");
  const since = new Map<string, number>();
  for (const s of sinceParams) {
    const m = SINCE.exec(s);
    if (!m) throw new AppError("validation", "since must be <channel_id>:<seq>");
    since.set(m[1]!, Number(m[2]));
  }
  return { named: [...new Set(named)], since };
}
