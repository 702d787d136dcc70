/**
 * CORS per PROTOCOL §8 (`CORS_ORIGINS`; empty = same origin only). A preflight from a listed origin gets
 * 204 with the allowed methods and headers; from any other origin, 403 with the envelope and no
 * Access-Control-* headers (the browser fails it either way; a 403 tells a developer why with curl).
 * Requests that are not preflights pass through to the router; their responses get
 * Access-Control-Allow-Origin only for listed origins. Tokens travel in Authorization, never in cookies,
 * so credentials mode is not offered.
 */
import { errorResponse } from "../errors";

export const CORS_METHODS = "GET, POST, PUT, PATCH, DELETE";
export const CORS_HEADERS = "authorization, content-type";
/** Not safelisted, so a browser client could not read how long to wait after a 429 without this. */
export const CORS_EXPOSED = "retry-after";

export interface CorsOptions {
  origins: readonly string[];
  /** How long a browser may cache a preflight answer (default 600 s; Chromium caps at 7,200). */
  maxAgeSec?: number;
}

export interface Cors {
  /** The answer to a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method), or null for any other request. */
  preflight(req: Request): Response | null;
  /** `res` with Access-Control-Allow-Origin for a listed Origin, and Vary: Origin whenever the answer depends on it. */
  decorate(req: Request, res: Response): Response;
  allowed(origin: string | null): boolean;
}

/** Throws on an entry that is not a plain origin (scheme://host[:port]), naming it: a config error stops start-up. */
export function normalizeOrigin(entry: string): string {
  let url: URL | null = null;
  try {
    url = new URL(entry);
  } catch {
    // reported below
  }
  const ok =
    url !== null &&
    (url.protocol === "https:" || url.protocol === "http:") &&
    url.username === "" &&
    url.password === "" &&
    url.pathname === "/" &&
    url.search === "" &&
    url.hash === "" &&
    !entry.endsWith("/");
  if (!ok) throw new Error(`CORS origin ${JSON.stringify(entry)} is not an origin such as https://app.example.com`);
  return url!.origin;
}

export function createCors(opts: CorsOptions): Cors {
  const origins = new Set(opts.origins.map(normalizeOrigin));
  const maxAge = String(opts.maxAgeSec ?? 600);
  const allowed = (origin: string | null) => origin !== null && origins.has(origin);

  return {
    allowed,

    preflight(req) {
      const origin = req.headers.get("origin");
      if (req.method !== "OPTIONS" || origin === null || !req.headers.has("access-control-request-method")) return null;
      const vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
      if (!allowed(origin)) return errorResponse("forbidden", "origin not allowed", { headers: { vary } });
      return new Response(null, {
        status: 204,
        headers: {
          "access-control-allow-origin": origin,
          "access-control-allow-methods": CORS_METHODS,
          "access-control-allow-headers": CORS_HEADERS,
          "access-control-max-age": maxAge,
          vary,
        },
      });
    },

    decorate(req, res) {
      if (origins.size === 0) return res; // same origin only: the answer never depends on Origin
      const origin = req.headers.get("origin");
      // Bun's Response headers are mutable in every case, fetch() and Response.error() included (spec: immutable).
      addVary(res.headers, "Origin");
      if (allowed(origin)) {
        res.headers.set("access-control-allow-origin", origin!);
        res.headers.set("access-control-expose-headers", CORS_EXPOSED);
      }
      return res;
    },
  };
}

function addVary(headers: Headers, name: string): void {
  const current = headers.get("vary");
  if (current === null) return headers.set("vary", name);
  const names = current.split(",").map((v) => v.trim().toLowerCase());
  if (!names.includes("*") && !names.includes(name.toLowerCase())) headers.set("vary", `${current}, ${name}`);
}
