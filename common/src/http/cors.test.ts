import { describe, expect, test } from "bun:test";
import { CORS_HEADERS, CORS_METHODS, createCors, normalizeOrigin } from "./cors.ts";

const APP = "https://app.example.com";
const cors = createCors({ origins: [APP, "http://localhost:5173"], maxAgeSec: 300 });
const preflightReq = (origin: string | null, method = "OPTIONS", acrm: string | null = "PATCH") => {
  const headers: Record<string, string> = { "access-control-request-headers": "authorization,content-type" };
  if (origin !== null) headers.origin = origin;
  if (acrm !== null) headers["access-control-request-method"] = acrm;
  return new Request("http://api.example.com/v1/teams/507f191e810c19729de860ea", { method, headers });
};
const acHeaders = (res: Response) => [...res.headers.keys()].filter((k) => k.startsWith("access-control-"));

describe("preflight", () => {
  test("a listed origin: 204 with the exact origin, methods, headers, max age and Vary", () => {
    const res = cors.preflight(preflightReq(APP))!;
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(res.headers.get("access-control-allow-methods")).toBe(CORS_METHODS);
    expect(res.headers.get("access-control-allow-headers")).toBe(CORS_HEADERS);
    expect(res.headers.get("access-control-max-age")).toBe("300");
    expect(res.headers.get("vary")).toContain("Origin");
    expect(res.headers.has("access-control-allow-credentials")).toBe(false);
    expect(cors.preflight(preflightReq("http://localhost:5173"))!.status).toBe(204);
  });

  test.each([
    ["an unlisted origin", "https://evil.example"],
    ["a listed host on another scheme", "http://app.example.com"],
    ["a listed host on another port", "https://app.example.com:8443"],
    ["a suffix match", "https://app.example.com.evil.example"],
    ["the opaque origin", "null"],
    ["different case", "https://APP.example.com"],
  ])("%s: 403 with the envelope and no Access-Control-* header", async (_n, origin) => {
    const res = cors.preflight(preflightReq(origin))!;
    expect(res.status).toBe(403);
    expect(acHeaders(res)).toEqual([]);
    expect(await res.json()).toEqual({ error: { code: "forbidden", message: "origin not allowed" } });
  });

  test("not a preflight: null, the router answers", () => {
    expect(cors.preflight(preflightReq(APP, "GET"))).toBeNull();
    expect(cors.preflight(preflightReq(null))).toBeNull();
    expect(cors.preflight(preflightReq(APP, "OPTIONS", null))).toBeNull();
  });

  test("an empty list (same origin only) answers every preflight 403", () => {
    const none = createCors({ origins: [] });
    const res = none.preflight(preflightReq(APP))!;
    expect(res.status).toBe(403);
    expect(acHeaders(res)).toEqual([]);
  });
});

describe("decorate", () => {
  const get = (origin?: string) => new Request("http://api.example.com/v1/teams", { headers: origin ? { origin } : {} });

  test("a listed origin gets its exact origin back, Retry-After exposed, Vary: Origin", async () => {
    const res = cors.decorate(get(APP), Response.json({ data: [] }, { headers: { vary: "Accept-Encoding" } }));
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(res.headers.get("access-control-expose-headers")).toBe("retry-after");
    expect(res.headers.get("vary")).toBe("Accept-Encoding, Origin");
    expect(await res.json()).toEqual({ data: [] });
  });

  test("an unlisted or absent origin gets no Access-Control-* header, still Vary: Origin", () => {
    for (const req of [get("https://evil.example"), get()]) {
      const res = cors.decorate(req, new Response("x"));
      expect(acHeaders(res)).toEqual([]);
      expect(res.headers.get("vary")).toBe("Origin");
    }
  });

  test("error responses are decorated too (a browser must read a 429)", () => {
    const res = cors.decorate(get(APP), Response.json({ error: {} }, { status: 429, headers: { "retry-after": "2" } }));
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
  });

  test("Vary is not repeated, nor added after *", () => {
    expect(cors.decorate(get(APP), new Response("x", { headers: { vary: "origin" } })).headers.get("vary")).toBe("origin");
    expect(cors.decorate(get(APP), new Response("x", { headers: { vary: "*" } })).headers.get("vary")).toBe("*");
  });

  test("an empty list leaves responses untouched", () => {
    const res = createCors({ origins: [] }).decorate(get(APP), new Response("x"));
    expect([...res.headers.keys()].filter((k) => k === "vary" || k.startsWith("access-control-"))).toEqual([]);
  });

  test("a redirect and a fetched response can be decorated", async () => {
    expect(cors.decorate(get(APP), Response.redirect("https://objects.example/x", 302)).headers.get("access-control-allow-origin")).toBe(APP);
    const server = Bun.serve({ port: 0, fetch: () => new Response("hi") });
    try {
      const fetched = await fetch(server.url);
      expect(cors.decorate(get(APP), fetched).headers.get("access-control-allow-origin")).toBe(APP);
    } finally {
      server.stop(true);
    }
  });
});

describe("origins configuration", () => {
  test("entries are normalised to origins", () => {
    expect(normalizeOrigin("HTTPS://App.Example.com")).toBe(APP);
    expect(normalizeOrigin("https://app.example.com:443")).toBe(APP);
    expect(normalizeOrigin("http://[::1]:3000")).toBe("http://[::1]:3000");
    expect(createCors({ origins: ["HTTPS://APP.example.com"] }).allowed(APP)).toBe(true);
  });

  test.each(["*", "null", "app.example.com", "https://app.example.com/", "https://app.example.com/path", "ftp://x.example", "https://u:p@x.example", ""])(
    "%p is refused, naming the entry",
    (entry) => {
      expect(() => createCors({ origins: [entry] })).toThrow(`CORS origin ${JSON.stringify(entry)} is not an origin`);
    },
  );
});
