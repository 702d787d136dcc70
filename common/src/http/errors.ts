/**
 * The edge's error envelope, `{"error":{"code","message"}}` (PROTOCOL §4), for answers given before
 * any router runs. Kept tiny on purpose: it is to be merged with the catalog in common/src/errors.ts.
 */
export type EdgeErrorCode =
  | "validation"
  | "forbidden"
  | "too_large"
  | "unsupported_media_type"
  | "rate_limited"
  | "internal";

export function errorResponse(status: number, code: EdgeErrorCode, message: string, headers?: Record<string, string>): Response {
  const res = Response.json({ error: { code, message } }, { status, headers });
  res.headers.set("cache-control", "no-store");
  return res;
}

/** A refusal carrying its own response; thrown by the lower layers (readBodyLimited), caught at the edge. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: EdgeErrorCode,
    message: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = "HttpError";
  }

  response(): Response {
    return errorResponse(this.status, this.code, this.message, this.headers);
  }
}

/**
 * The request's URL, or null when it cannot be trusted: Bun hands a malformed Host (`[::1`, `a b`, `x:99999`)
 * or an empty Host through as a req.url that `new URL` refuses (sometimes a bare "/path"), and joins repeated
 * Host headers with ", " while using the first. The edge answers null with 400 and the envelope.
 */
export function safeUrl(req: Request): URL | null {
  // An in-process Request (tests, app.handle) has no Host header; a served one always has one.
  if (req.headers.get("host")?.includes(",")) return null;
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  return url;
}

export const badRequestUrl = (): Response => errorResponse(400, "validation", "malformed request URL or Host header");

/**
 * Bun.serve options that never show Bun's development error page (HTML with the stack and source
 * excerpts, the default unless NODE_ENV=production) nor its plain-text "Something went wrong!":
 * spread into Bun.serve. The handler itself never throws (a throwing `error` falls back to Bun's text).
 */
export function hardenedServeOptions(onError?: (err: unknown) => void): {
  development: false;
  error: (err: unknown) => Response;
} {
  return {
    development: false,
    error(err) {
      try {
        onError?.(err);
      } catch {
        // a failing logger must not turn the JSON 500 into Bun's text page
      }
      return errorResponse(500, "internal", "internal error");
    },
  };
}
