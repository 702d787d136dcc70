// The edge modules composed the way a server's fetch(req, server) would use them, in front of a real
// Elysia app: every refusal happens before authentication and before the router reads a byte.
import { afterAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { withBody } from "./body.ts";
import { createCors } from "./cors.ts";
import { errorResponse } from "../errors";
import { badRequestUrl, hardenedServeOptions, safeUrl } from "./errors.ts";
import { parseJsonRequest, parseQuery } from "./json.ts";
import { addressRateKey, clientAddress, rateLimitedResponse, TokenBuckets } from "./rate-limit.ts";
import { parseRaw, rawHttp } from "./testing.ts";

const APP_ORIGIN = "https://app.example.com";
const cors = createCors({ origins: [APP_ORIGIN] });
const perAddress = new TokenBuckets({ rate: 1, burst: 20 });
let authCalls = 0;

const app = new Elysia()
  .post("/v1/teams", ({ body }) => new Response(JSON.stringify({ data: body }), { status: 201, headers: { "content-type": "application/json" } }))
  .get("/v1/teams", ({ request }) => {
    const q = parseQuery(new URL(request.url), { q: "string", limit: { type: "int", min: 1, max: 100 } });
    return q.ok ? { data: q.value } : q.error.response();
  });

async function edge(req: Request, server: Bun.Server<unknown>): Promise<Response> {
  if (!safeUrl(req)) return badRequestUrl();
  const preflight = cors.preflight(req);
  if (preflight) return preflight;
  const limited = perAddress.take(`addr:${addressRateKey(clientAddress(req, server, { trustProxy: false }) ?? "unknown")}`);
  if (!limited.ok) return cors.decorate(req, rateLimitedResponse(limited.retryAfterSec));
  let forward = req;
  if (req.method === "POST" || req.method === "PUT" || req.method === "PATCH") {
    const parsed = await parseJsonRequest(req, { limit: 64 * 1024 });
    if (!parsed.ok) return cors.decorate(req, parsed.error.response());
    forward = withBody(req, parsed.bytes);
  }
  authCalls++; // authentication would run here, after every cheap refusal
  if (!req.headers.get("authorization")) return cors.decorate(req, errorResponse("unauthenticated", "no token"));
  return cors.decorate(req, await app.handle(forward));
}

const server = Bun.serve({ port: 0, maxRequestBodySize: 128 * 1024 * 1024, ...hardenedServeOptions(), fetch: edge });
afterAll(() => server.stop(true));
const call = (path: string, init: RequestInit = {}) =>
  fetch(new URL(path, server.url), { ...init, headers: { authorization: "Bearer t", ...(init.headers as Record<string, string>) } });

describe("the edge in front of Elysia", () => {
  test("a JSON body reaches the route whole", async () => {
    const res = await call("/v1/teams", { method: "POST", body: '{"name":"Team"}', headers: { "content-type": "application/json" } });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ data: { name: "Team" } });
  });

  test("oversized, mistyped and poisoned bodies are refused before authentication", async () => {
    authCalls = 0;
    const cases: [RequestInit, number][] = [
      [{ body: JSON.stringify({ name: "x".repeat(70_000) }), headers: { "content-type": "application/json" } }, 413],
      [{ body: "name=Team", headers: { "content-type": "application/x-www-form-urlencoded" } }, 415],
      [{ body: '{"__proto__":{"admin":true}}', headers: { "content-type": "application/json" } }, 400],
      [{ body: "{", headers: { "content-type": "application/json" } }, 400],
    ];
    for (const [init, status] of cases) {
      const res = await call("/v1/teams", { method: "POST", ...init });
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBeString();
    }
    expect(authCalls).toBe(0);
  });

  test("query rules: a repeated parameter is a 400", async () => {
    expect((await call("/v1/teams?limit=5&q=a")).status).toBe(200);
    expect((await call("/v1/teams?limit=5&limit=6")).status).toBe(400);
  });

  test("a malformed Host gets the envelope", async () => {
    const r = parseRaw(await rawHttp(server.port, "GET /v1/teams HTTP/1.1\r\nHost: [::1\r\nConnection: close\r\n\r\n"));
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error.code).toBe("validation");
  });

  test("a preflight from the app's origin is answered without authentication", async () => {
    const res = await fetch(new URL("/v1/teams", server.url), {
      method: "OPTIONS",
      headers: { origin: APP_ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
  });

  test("an error thrown in the edge itself is a JSON 500", async () => {
    const broken = Bun.serve({
      port: 0,
      ...hardenedServeOptions(),
      fetch: () => {
        throw new Error("edge bug at /srv/x.ts");
      },
    });
    try {
      const res = await fetch(broken.url);
      expect(res.status).toBe(500);
      expect(await res.text()).toBe('{"error":{"code":"internal","message":"internal error"}}');
    } finally {
      broken.stop(true);
    }
  });

  test("past the burst, 429 with Retry-After that a browser app may read", async () => {
    let last: Response | undefined;
    for (let i = 0; i < 30 && last?.status !== 429; i++) last = await call("/v1/teams", { headers: { origin: APP_ORIGIN } });
    expect(last!.status).toBe(429);
    expect(last!.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(last!.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
    expect(last!.headers.get("access-control-expose-headers")).toBe("retry-after");
  });
});
