import { errorResponse, wsErrorCode, type ErrorCode } from "@chat/common/errors";
import { TYPING_TTL_MS } from "@chat/common/presence";
import type { AckInfo } from "./dedupe";

export function errorFrame(code: ErrorCode, message: string, clientMsgId?: string): string {
  const f: Record<string, string> = { event: "error", code: wsErrorCode[code], message };
  if (clientMsgId) f.client_msg_id = clientMsgId;
  return JSON.stringify(f);
}

export function ackFrame(ack: AckInfo, clientMsgId?: string): string {
  return clientMsgId
    ? `{"event":"ack","client_msg_id":${JSON.stringify(clientMsgId)},"id":"${ack.id}","seq":${ack.seq},"ts":"${ack.ts}"}`
    : `{"event":"ack","id":"${ack.id}","seq":${ack.seq},"ts":"${ack.ts}"}`;
}

export function readyFrame(user: string, channels: Iterable<string>, expiresAt: number): string {
  return JSON.stringify({ event: "ready", user, channels: [...channels], expires_at: new Date(expiresAt).toISOString(), typing_ttl_ms: TYPING_TTL_MS });
}

export function tokenExpiringFrame(expiresAt: number): string {
  return `{"event":"token_expiring","expires_at":"${new Date(expiresAt).toISOString()}"}`;
}

export function refreshAckFrame(expiresAt: number, clientMsgId?: string): string {
  const f: Record<string, string> = { event: "ack", op: "refresh", expires_at: new Date(expiresAt).toISOString() };
  if (clientMsgId) f.client_msg_id = clientMsgId;
  return JSON.stringify(f);
}

export function channelLeftFrame(channelId: string): string {
  return `{"event":"channel_left","channel_id":"${channelId}"}`;
}

/** Upgrade refusals use the REST error envelope; `status` differs from the catalog's only for 426. */
export function httpError(status: number, code: ErrorCode, message: string, headers?: Record<string, string>): Response {
  return errorResponse(code, message, { status, headers });
}
