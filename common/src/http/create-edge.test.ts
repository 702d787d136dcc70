import { describe, expect, test } from "bun:test";
import { loadConfig } from "../config";
import { CLIENT_ADDRESS_HEADER, createEdge } from "./edge";

// createEdge as management mounts it, in front of a router that echoes what it was handed.
const server = { requestIP: () => ({ address: "203.0.113.7" }) };
const echo = async (req: Request) => Response.json({ address: req.headers.get(CLIENT_ADDRESS_HEADER), body: req.body ? await req.text() : null });
const edge = createEdge(loadConfig({ CORS_ORIGINS: "https://app.example.com" }), { uploadPrefix: "/v1/objects" });
const call = (path: string, init: RequestInit = {}) => edge.handle(new Request(`http://chat.test${path}`, init), server, echo);

describe("the edge every REST request meets", () => {
  test("the router gets the body and the client's address; a client-sent address header is replaced", async () => {
    const res = await call("/v1/teams", { method: "POST", body: '{"name":"x"}', headers: { "content-type": "application/json", [CLIENT_ADDRESS_HEADER]: "6.6.6.6" } });
    expect(await res.json()).toEqual({ address: "203.0.113.7", body: '{"name":"x"}' });
  });

  test("uploads under the object store's prefix are handed on untouched", async () => {
    const res = await call("/v1/objects/t/o?sig=x", { method: "PUT", body: "raw bytes", headers: { "content-type": "image/png", [CLIENT_ADDRESS_HEADER]: "6.6.6.6" } });
    expect(await res.json()).toEqual({ address: "6.6.6.6", body: "raw bytes" }); // the request itself, not a copy
  });

  test("a URL that does not parse is a 400 with the envelope before the router", async () => {
    const res = await edge.handle(new Request("http://chat.test/v1/teams", { headers: { host: "a, b" } }), server, echo);
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe("validation");
  });

  test("CORS: a listed origin's preflight is 204; answers carry the exact origin, and only for listed ones", async () => {
    const pre = await call("/v1/teams", { method: "OPTIONS", headers: { origin: "https://app.example.com", "access-control-request-method": "POST" } });
    expect(pre.status).toBe(204);
    expect((await call("/v1/teams", { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "POST" } })).status).toBe(403);
    const res = await call("/v1/teams", { headers: { origin: "https://app.example.com" } });
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const other = await call("/v1/teams", { headers: { origin: "https://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});
