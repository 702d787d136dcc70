import { describe, expect, test } from "bun:test";
import { loadConfig } from "../config";
import { CLIENT_ADDRESS_HEADER, createEdge } from "./edge";

// createEdge as every server mounts it, in front of a router that echoes what it was handed.
const server = { requestIP: () => ({ address: "203.0.113.7" }) };
const echo = async (req: Request) => Response.json({ address: req.headers.get(CLIENT_ADDRESS_HEADER), body: req.body ? await req.text() : null });
const edge = createEdge(loadConfig({ CORS_ORIGINS: "https://app.example.com", LIMIT_REST_BURST: "3", LIMIT_REST_PER_SEC: "1" }), { uploadPrefix: "/v1/objects" });
const call = (path: string, init: RequestInit = {}) => edge.handle(new Request(`http://chat.test${path}`, init), server, echo);

describe("the edge every REST request meets", () => {
  test("a repeated query parameter is a 400 before the router", async () => {
    const res = await call("/v1/teams?limit=5&limit=6", { headers: { authorization: "Bearer x" } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe("validation");
    expect((await call("/v1/teams?limit=5&q=a", { headers: { authorization: "Bearer x" } })).status).toBe(200);
  });

  test("the router gets the body read once and the client's address; a client-sent address header is replaced", async () => {
    const res = await call("/v1/teams", { method: "POST", body: '{"name":"x"}', headers: { authorization: "Bearer x", "content-type": "application/json", [CLIENT_ADDRESS_HEADER]: "6.6.6.6" } });
    expect(await res.json()).toEqual({ address: "203.0.113.7", body: '{"name":"x"}' });
  });

  test("JSON rules: 415 for other media types, 400 for prototype keys; uploads under the prefix stream past them", async () => {
    expect((await call("/v1/teams", { method: "POST", body: "name=x", headers: { authorization: "Bearer x", "content-type": "text/plain" } })).status).toBe(415);
    expect((await call("/v1/teams", { method: "POST", body: '{"a":{"__proto__":1}}', headers: { authorization: "Bearer x", "content-type": "application/json" } })).status).toBe(400);
    expect((await call("/v1/objects/t/o?sig=x", { method: "PUT", body: "raw bytes", headers: { "content-type": "image/png" } })).status).toBe(200);
  });

  test("requests without a token are limited per client address: 429 with Retry-After past the burst", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await call("/v1/teams")).status);
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    const limited = await call("/v1/teams");
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await call("/v1/health")).status).toBe(200); // health is never limited
  });

  test("CORS: a listed origin's preflight is 204; simple answers carry the exact origin", async () => {
    const pre = await call("/v1/teams", { method: "OPTIONS", headers: { origin: "https://app.example.com", "access-control-request-method": "POST" } });
    expect(pre.status).toBe(204);
    const res = await call("/v1/teams", { headers: { origin: "https://app.example.com", authorization: "Bearer x" } });
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const other = await call("/v1/teams", { headers: { origin: "https://evil.example", authorization: "Bearer x" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});
