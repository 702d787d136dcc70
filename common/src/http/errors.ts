import { AppError, errorResponse, type ErrorCode } from "../errors";

/** A refusal carrying its own response; thrown by the lower layers (readBodyLimited), caught at the edge. */
export class HttpError extends AppError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly headers?: Record<string, string>,
  ) {
    super(code, message);
    this.name = "HttpError";
  }

  response(): Response {
    return errorResponse(this.code, this.message, { headers: this.headers });
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

export const badRequestUrl = (): Response => errorResponse("validation", "malformed request URL or Host header");

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
      return errorResponse("internal", "internal error");
    },
  };
}
