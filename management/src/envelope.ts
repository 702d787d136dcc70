import { Elysia } from "elysia";
import { AppError, httpStatus, toAppError } from "@chat/common/errors";
import type { Logger } from "@chat/common/log";

export const ok = <T>(data: T) => ({ data });
export const page = <T>(data: T[], next: string | number | null) => ({ data, next });

/** Every failure leaves as `{"error":{"code","message"}}` with the catalog's status. */
export const errorEnvelope = (logger: Logger) =>
  new Elysia({ name: "error-envelope" }).onError({ as: "global" }, ({ code, error, set, request }) => {
    let app: AppError;
    if (error instanceof AppError) app = error;
    else if (code === "VALIDATION") app = new AppError("validation", validationMessage(error));
    else if (code === "PARSE") app = new AppError("validation", "body is not valid JSON");
    else if (code === "NOT_FOUND") app = new AppError("not_found", "no such route");
    else if (code === "INVALID_COOKIE_SIGNATURE" || code === "INVALID_FILE_TYPE") app = new AppError("validation", "invalid request");
    else {
      const status = (error as { status?: number }).status;
      if (status === 413) app = new AppError("too_large", "request body too large");
      else {
        app = toAppError(error);
        logger.error("request failed", { method: request.method, path: new URL(request.url).pathname, err: error });
      }
    }
    set.status = httpStatus[app.code];
    set.headers["content-type"] = "application/json";
    return JSON.stringify({ error: { code: app.code, message: app.message } });
  });

function validationMessage(error: unknown): string {
  const e = error as { type?: string; valueError?: { path?: string; message?: string } };
  const where = e.type ?? "request";
  const path = e.valueError?.path ? ` at ${e.valueError.path}` : "";
  return `invalid ${where}${path}: ${e.valueError?.message ?? "does not match the schema"}`;
}
