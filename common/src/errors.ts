import { Code } from "@connectrpc/connect";

/** The one catalog of error codes crossing any of our wire boundaries. */
export const ERROR_CODES = [
  "invalid_message",
  "validation",
  "unauthenticated",
  "forbidden",
  "not_found",
  "method_not_allowed",
  "conflict",
  "too_large",
  "unsupported_media_type",
  "rate_limited",
  "unavailable",
  "internal",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "AppError";
  }
}

export const httpStatus: Record<ErrorCode, number> = {
  invalid_message: 400,
  validation: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

export const connectCode: Record<ErrorCode, Code> = {
  invalid_message: Code.InvalidArgument,
  validation: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  forbidden: Code.PermissionDenied,
  not_found: Code.NotFound,
  method_not_allowed: Code.Unimplemented,
  conflict: Code.AlreadyExists,
  too_large: Code.ResourceExhausted,
  unsupported_media_type: Code.InvalidArgument,
  rate_limited: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  internal: Code.Internal,
};

/** WebSocket error frames use the PROTOCOL's smaller vocabulary. */
export const wsErrorCode: Record<ErrorCode, string> = {
  invalid_message: "invalid_message",
  validation: "invalid_message",
  unauthenticated: "forbidden",
  forbidden: "forbidden",
  not_found: "not_found",
  method_not_allowed: "invalid_message",
  conflict: "invalid_message",
  too_large: "too_large",
  unsupported_media_type: "invalid_message",
  rate_limited: "rate_limited",
  unavailable: "unavailable",
  internal: "unavailable",
};

/** The body of every HTTP error answer, on every edge: `{"error":{"code","message"}}`. */
export function errorBody(code: ErrorCode, message: string): { error: { code: ErrorCode; message: string } } {
  return { error: { code, message } };
}

/**
 * An HTTP error answer with the catalog's status. `status` is only for the HTTP-only answers
 * that have no code of their own (426); `fields` adds top-level members (readiness `checks`).
 */
export function errorResponse(code: ErrorCode, message: string, init: { status?: number; headers?: Record<string, string>; fields?: Record<string, unknown> } = {}): Response {
  const res = Response.json({ ...init.fields, ...errorBody(code, message) }, { status: init.status ?? httpStatus[code], headers: init.headers });
  res.headers.set("cache-control", "no-store");
  return res;
}

/** Anything not an AppError is opaque to clients: driver messages can hold queries or credentials. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  return new AppError("internal", "internal error");
}
