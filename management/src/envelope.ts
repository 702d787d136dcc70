import { Elysia, t, type Static, type TSchema } from "elysia";
import { AppError, ERROR_CODES, errorBody, httpStatus, toAppError, type ErrorCode } from "@chat/common/errors";
import { HttpError } from "@chat/common/http/errors";
import type { Logger } from "@chat/common/log";
import { grammarMessage } from "./grammar";
import type { AllowedMethods } from "./routing";

export const ok = <T>(data: T) => ({ data });
export const page = <T, N extends string | number>(data: T[], next: N | null) => ({ data, next });

export const ErrorBody = t.Object(
  { error: t.Object({ code: t.UnionEnum([...ERROR_CODES]), message: t.String({ description: "for people; clients branch on `code`" }) }) },
  { description: "the error envelope" },
);
/**
 * A reference to a component registered with `.model({ [name]: schema })`, typed as that schema: the
 * OpenAPI document names it (generated clients get a type), and the validator resolves it by `$id`.
 */
export const ref = <T extends TSchema>(name: string, _schema: T) => t.Unsafe<Static<T>>(t.Ref(`#/components/schemas/${name}`));

/** The named component every error response refers to. */
export const errorModels = { Error: ErrorBody };

const DESCRIPTIONS: Partial<Record<ErrorCode, string>> = {
  validation: "invalid request: unknown field, wrong type, bad JSON",
  unauthenticated: "missing, invalid or expired bearer token",
  forbidden: "the caller's role does not allow this",
  not_found: "no such team, member or object",
  method_not_allowed: "the path does not serve this method (see `Allow`)",
  conflict: "state conflict (already a member, inactive team, ...)",
  too_large: "over the configured limit (a JSON body: 64 KiB)",
  unsupported_media_type: "the body is not `application/json`",
  rate_limited: "too many requests: retry after `Retry-After` seconds",
  unavailable: "a dependency is not available",
};
/** What each error status means, for the OpenAPI document (the `Error` schema is shared, the description is not). */
export const errorDescriptions: Record<string, string> = Object.fromEntries(
  Object.entries(DESCRIPTIONS).map(([code, text]) => [String(httpStatus[code as ErrorCode]), text]),
);

/**
 * The error statuses a route can answer, for its OpenAPI entry (documentation only: onError writes them).
 * A route that authenticates is also rate limited (the auth plugin charges it), so it can answer 429.
 */
export function failures(...codes: ErrorCode[]) {
  const out: Record<number, "Error"> = {};
  for (const c of codes.includes("unauthenticated") ? [...codes, "rate_limited" as const] : codes) out[httpStatus[c]] = "Error";
  return out;
}

/**
 * Every failure leaves as `{"error":{"code","message"}}` with the catalog's status. An unmatched
 * request on a path that `allowed` knows is a 405 with `Allow`; on any other path a 404.
 */
export const errorEnvelope = (logger: Logger, allowed?: AllowedMethods) =>
  new Elysia({ name: "error-envelope" }).onError({ as: "global" }, ({ code, error: thrown, set, request }) => {
    // Elysia wraps what a body parser throws (our JSON parser's 415/413/400) in its ParseError.
    const cause = code === "PARSE" ? (thrown as { cause?: unknown }).cause : undefined;
    const error = cause instanceof AppError ? cause : thrown;
    let app: AppError;
    if (error instanceof HttpError) {
      app = error;
      for (const [name, value] of Object.entries(error.headers ?? {})) set.headers[name] = value;
    } else if (error instanceof AppError) app = error;
    else if (code === "VALIDATION") app = new AppError("validation", validationMessage(error));
    else if (code === "PARSE") app = new AppError("validation", "body is not valid JSON");
    else if (code === "NOT_FOUND") {
      const allow = allowed?.for(new URL(request.url).pathname) ?? [];
      if (allow.length === 0) app = new AppError("not_found", "no such route");
      else {
        app = new AppError("method_not_allowed", `method not allowed here; allowed: ${allow.join(", ")}`);
        set.headers.allow = allow.join(", ");
      }
    }
    else if (code === "INVALID_COOKIE_SIGNATURE" || code === "INVALID_FILE_TYPE") app = new AppError("validation", "invalid request");
    else {
      const status = (error as { status?: number }).status;
      if (status === 413) app = new AppError("too_large", "request body too large");
      else {
        app = toAppError(error);
        logger.error("request failed", { method: request.method, path: new URL(request.url).pathname, err: error });
      }
    }
    // Through `set` rather than a Response, so the request log and metrics see the status.
    set.status = httpStatus[app.code];
    set.headers["content-type"] = "application/json";
    return JSON.stringify(errorBody(app.code, app.message));
  });

function validationMessage(error: unknown): string {
  const e = error as { type?: string; valueError?: { path?: string; message?: string; schema?: unknown } };
  const where = e.type ?? "request";
  const path = e.valueError?.path ? ` at ${e.valueError.path}` : "";
  return `invalid ${where}${path}: ${grammarMessage(e.valueError?.schema) ?? e.valueError?.message ?? "does not match the schema"}`;
}
