/**
 * Body limits enforced before parsing and before authentication (PROTOCOL §7): a declared
 * Content-Length over the limit is refused without reading; a chunked body is read only until it
 * passes the limit, so no more than limit + one chunk is ever held.
 *
 * Bun.serve's own maxRequestBodySize must stay above every route's limit (uploads included): Bun
 * answers a Content-Length over it with a bare 413 (no envelope) before our handler runs.
 */
import { HttpError } from "./errors.ts";

const DIGITS = /^[0-9]+$/;

/** The refusal checkDeclaredLength answers, as an error (null when the declared length is fine or absent). */
export function declaredLengthError(req: Request, limit: number): HttpError | null {
  const raw = req.headers.get("content-length");
  if (raw === null) return null;
  // Bun refuses malformed or repeated ("3, 3") lengths itself; in-process requests may carry anything.
  if (!DIGITS.test(raw)) return new HttpError("validation", "malformed Content-Length");
  if (Number(raw) > limit) return tooLarge(limit);
  return null;
}

const tooLarge = (limit: number) => new HttpError("too_large", `request body larger than ${limit} bytes`);

/** 413 (or 400 when malformed) with the envelope when the declared Content-Length is over `limit`; null otherwise. */
export function checkDeclaredLength(req: Request, limit: number): Response | null {
  return declaredLengthError(req, limit)?.response() ?? null;
}

/**
 * The whole body, at most `limit` bytes; throws HttpError 413 as soon as the stream passes the limit
 * (the stream is cancelled, nothing more is pulled), 400 when the client breaks off mid-body.
 */
export async function readBodyLimited(req: Request, limit: number): Promise<Uint8Array> {
  const declared = declaredLengthError(req, limit);
  if (declared) throw declared;
  if (req.body === null) return new Uint8Array(0);
  if (req.bodyUsed) throw new TypeError("request body already consumed");
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let step: Awaited<ReturnType<typeof reader.read>>;
    try {
      step = await reader.read();
    } catch (err) {
      // Bun's own maxRequestBodySize surfaces here on chunked bodies; it answers 413 itself anyway.
      if (String(err).includes("maxRequestBodySize")) throw tooLarge(limit);
      throw new HttpError("validation", "request body could not be read");
    }
    if (step.done) break;
    total += step.value.byteLength;
    if (total > limit) {
      reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(step.value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * For the edge in front of a router: the same request with its body read under `limit` and held in
 * memory (so the router cannot read more), or the envelope response refusing it.
 */
export async function bufferRequest(req: Request, limit: number): Promise<Request | Response> {
  if (req.body === null) return req;
  try {
    return withBody(req, await readBodyLimited(req, limit));
  } catch (err) {
    if (err instanceof HttpError) return err.response();
    throw err;
  }
}

/**
 * `req` with `body` in place of its stream, for the router behind the edge. The headers are copied as they
 * are (Content-Length included), so `body` must be the very bytes read from `req`.
 */
export function withBody(req: Request, body: Uint8Array): Request {
  return new Request(req, { body });
}
