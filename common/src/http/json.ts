/**
 * The one safe JSON request parser and query parser (PROTOCOL §7–8). Nothing a client sends makes them throw:
 * each answers `{ok: true, value}` or `{ok: false, error}` where `error.response()` is the envelope
 * (400 validation, 413 too_large, 415 unsupported_media_type).
 */
import { declaredLengthError, readBodyLimited } from "./body.ts";
import { HttpError } from "./errors.ts";

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: HttpError };
/** `bytes` are the body as read, to hand on to a router with withBody(req, bytes). */
export type ParsedJson = { ok: true; value: unknown; bytes: Uint8Array } | { ok: false; error: HttpError };

export interface JsonOptions {
  /** Largest body accepted, in bytes (PROTOCOL §7: 64 KiB). */
  limit: number;
  /** Deepest nesting of objects and arrays accepted; our bodies are flat, so this only stops abuse. */
  maxDepth?: number;
  /** Accept a request with no body at all (value undefined), for routes whose body fields are all optional. */
  allowEmpty?: boolean;
}

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
const DEFAULT_MAX_DEPTH = 32;

const bad = (message: string): { ok: false; error: HttpError } => ({ ok: false, error: new HttpError("validation", message) });

/** `application/json`, optionally with `charset=utf-8` (any case, quoted or not); nothing else, no `+json` types. */
export function isJsonContentType(value: string | null): boolean {
  if (value === null) return false;
  const [essence = "", ...params] = value.split(";");
  if (essence.trim().toLowerCase() !== "application/json") return false;
  for (const param of params) {
    const eq = param.indexOf("=");
    if (eq === -1) {
      if (param.trim() === "") continue;
      return false;
    }
    const name = param.slice(0, eq).trim().toLowerCase();
    let v = param.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    if (name === "charset" && v.toLowerCase() !== "utf-8") return false;
  }
  return true;
}

/** The request's JSON body, refused before reading when too large or not JSON, and refused after when unsafe. */
export async function parseJsonRequest(req: Request, opts: JsonOptions): Promise<ParsedJson> {
  // Size first: a huge body is refused as 413 whatever its type, without reading a byte.
  const declared = declaredLengthError(req, opts.limit);
  if (declared) return { ok: false, error: declared };
  const type = req.headers.get("content-type");
  const length = req.headers.get("content-length"); // digits or absent by now
  const hasBody = req.body !== null && (length === null || Number(length) > 0);
  if (!isJsonContentType(type)) {
    if (type !== null || hasBody) {
      return { ok: false, error: new HttpError("unsupported_media_type", "request body must be application/json") };
    }
    return opts.allowEmpty ? { ok: true, value: undefined, bytes: new Uint8Array(0) } : bad("a JSON body is required");
  }
  let bytes: Uint8Array;
  try {
    bytes = await readBodyLimited(req, opts.limit);
  } catch (err) {
    if (err instanceof HttpError) return { ok: false, error: err };
    throw err;
  }
  if (bytes.byteLength === 0 && opts.allowEmpty) return { ok: true, value: undefined, bytes };
  const parsed = parseJsonBytes(bytes, opts.maxDepth ?? DEFAULT_MAX_DEPTH);
  return parsed.ok ? { ok: true, value: parsed.value, bytes } : parsed;
}

/** Decoding, parsing and the key/number/depth checks, for bytes already read under a limit. */
export function parseJsonBytes(bytes: Uint8Array, maxDepth = DEFAULT_MAX_DEPTH): Parsed<unknown> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return bad("request body is not valid UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The engine's message quotes the input; the client has it already.
    return bad("request body is not valid JSON");
  }
  const problem = unsafe(value, maxDepth);
  return problem ? bad(problem) : { ok: true, value };
}

/**
 * Walks without recursion (a deep body must not overflow our stack). JSON.parse makes `"__proto__"` an
 * own property, so Object.keys sees it; `1e400` parses to Infinity, which no field of ours can hold.
 */
function unsafe(root: unknown, maxDepth: number): string | null {
  if (typeof root === "number" && !Number.isFinite(root)) return "number out of range";
  const stack: { node: object; depth: number }[] = [];
  if (typeof root === "object" && root !== null) stack.push({ node: root, depth: 1 });
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (depth > maxDepth) return `JSON nested deeper than ${maxDepth} levels`;
    const entries: [string | null, unknown][] = Array.isArray(node)
      ? node.map((v) => [null, v])
      : Object.keys(node).map((k) => [k, (node as Record<string, unknown>)[k]]);
    for (const [key, v] of entries) {
      if (key !== null && FORBIDDEN_KEYS.has(key)) return `key "${key}" is not allowed`;
      if (typeof v === "number" && !Number.isFinite(v)) return "number out of range";
      if (typeof v === "object" && v !== null) stack.push({ node: v, depth: depth + 1 });
    }
  }
  return null;
}

export type QuerySpec =
  | "string"
  | "int"
  | { type: "string"; maxLength?: number }
  | { type: "int"; min?: number; max?: number };

export type QueryValues<S extends Record<string, QuerySpec>> = {
  -readonly [K in keyof S]?: S[K] extends "int" | { type: "int" } ? number : string;
};

export interface QueryOptions {
  /** Unknown parameters are refused (400) unless this is "ignore". */
  unknown?: "reject" | "ignore";
}

const DEFAULT_MAX_STRING = 2048;
const PLAIN_DIGITS = /^[0-9]{1,16}$/;
const CONTROL = /\p{Cc}/u;
const PRINTABLE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Query parameters by an allow-list: a repeated parameter is a 400 (PROTOCOL §8), so is an unknown one by
 * default; ints are plain decimal digits within [min, max] (default 0 .. 2^53-1: no `0x10`, `1e2`, `+5`,
 * ` 5`, `5.0`); strings hold no control characters and at most 2,048 code units unless told otherwise.
 */
export function parseQuery<S extends Record<string, QuerySpec>>(
  url: URL | URLSearchParams,
  allowed: S,
  opts: QueryOptions = {},
): Parsed<QueryValues<S>> {
  const params = url instanceof URL ? url.searchParams : url;
  const out: Record<string, string | number> = {};
  for (const [name, raw] of params) {
    const spec = Object.hasOwn(allowed, name) ? allowed[name] : undefined;
    if (spec === undefined) {
      if (opts.unknown === "ignore") continue;
      return bad(PRINTABLE_NAME.test(name) ? `unknown query parameter "${name}"` : "unknown query parameter");
    }
    if (Object.hasOwn(out, name)) return bad(`query parameter "${name}" repeated`);
    const s = typeof spec === "string" ? { type: spec } : spec;
    if (s.type === "int") {
      const min = "min" in s && s.min !== undefined ? s.min : 0;
      const max = "max" in s && s.max !== undefined ? s.max : Number.MAX_SAFE_INTEGER;
      const n = PLAIN_DIGITS.test(raw) ? Number(raw) : NaN;
      if (!(n >= min && n <= max)) return bad(`query parameter "${name}" must be an integer from ${min} to ${max}`);
      out[name] = n;
    } else {
      const maxLength = "maxLength" in s && s.maxLength !== undefined ? s.maxLength : DEFAULT_MAX_STRING;
      if (CONTROL.test(raw)) return bad(`query parameter "${name}" holds control characters`);
      if (raw.length > maxLength) return bad(`query parameter "${name}" longer than ${maxLength} characters`);
      out[name] = raw;
    }
  }
  return { ok: true, value: out as QueryValues<S> };
}
