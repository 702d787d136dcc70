import { afterAll, describe, expect, test } from "bun:test";
import { errorResponse } from "../errors";
import { hardenedServeOptions, HttpError, safeUrl, badRequestUrl } from "./errors.ts";
import { parseRaw, rawHttp } from "./testing.ts";

describe("errorResponse", () => {
  test("builds the JSON envelope with status and extra headers", async () => {
    const res = errorResponse("rate_limited", "slow down", { headers: { "retry-after": "3" } });
    expect(res.status).toBe(429);
    expect(res.headers.get("content-type")).toStartWith("application/json");
    expect(res.headers.get("retry-after")).toBe("3");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({ error: { code: "rate_limited", message: "slow down" } });
  });

  test("HttpError carries its response", async () => {
    const err = new HttpError("too_large", "body over 10 bytes");
    expect(err).toBeInstanceOf(Error);
    const res = err.response();
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: { code: "too_large", message: "body over 10 bytes" } });
  });
});

describe("safeUrl on in-process requests", () => {
  test("parses a normal URL", () => {
    expect(safeUrl(new Request("http://chat.example:8080/v1/teams?q=a"))?.searchParams.get("q")).toBe("a");
  });
  test("refuses joined repeated Host headers", () => {
    expect(safeUrl(new Request("http://a/", { headers: { host: "a, b" } }))).toBeNull();
  });
});

// What Bun itself does with odd Host headers, and what the edge answers, over real sockets.
describe("safeUrl behind a real Bun.serve", () => {
  const seen: string[] = [];
  const server = Bun.serve({
    port: 0,
    ...hardenedServeOptions(),
    fetch(req) {
      seen.push(req.url); // req.url itself never throws, whatever the Host
      const url = safeUrl(req);
      if (!url) return badRequestUrl();
      return Response.json({ path: url.pathname, host: url.host });
    },
  });
  afterAll(() => server.stop(true));

  const get = async (hostLines: string, version = "1.1") =>
    parseRaw(await rawHttp(server.port, `GET /v1/x?a=1 HTTP/${version}\r\n${hostLines}Connection: close\r\n\r\n`));

  test("a good Host passes", async () => {
    const r = await get("Host: chat.example:8080\r\n");
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ path: "/v1/x", host: "chat.example:8080" });
  });

  test.each([
    ["unclosed IPv6 literal", "Host: [::1\r\n", "http://[::1/v1/x?a=1"],
    ["empty Host", "Host: \r\n", "/v1/x?a=1"],
    ["port out of range", "Host: x.example:99999\r\n", "http://x.example:99999/v1/x?a=1"],
    ["space inside", "Host: a b\r\n", "/v1/x?a=1"],
    ["userinfo", "Host: a@b\r\n", "/v1/x?a=1"],
    ["two Host headers", "Host: a.example\r\nHost: b.example\r\n", "http://a.example/v1/x?a=1"],
  ])("%s reaches the handler and gets 400 with the envelope", async (_name, hostLines, bunUrl) => {
    seen.length = 0;
    const r = await get(hostLines);
    expect(seen).toEqual([bunUrl]); // Bun does not refuse these itself
    expect(r.status).toBe(400);
    expect(r.headers.get("content-type")).toStartWith("application/json");
    expect(JSON.parse(r.body)).toEqual({ error: { code: "validation", message: "malformed request URL or Host header" } });
  });

  test("HTTP/1.0 without Host reaches the handler with a relative req.url: 400", async () => {
    seen.length = 0;
    const r = await get("", "1.0");
    expect(seen).toEqual(["/v1/x?a=1"]);
    expect(r.status).toBe(400);
  });

  test("HTTP/1.1 without Host is refused by Bun before the handler (400, empty body)", async () => {
    seen.length = 0;
    const r = await get("");
    expect(seen).toEqual([]);
    expect(r.status).toBe(400);
    expect(r.body).toBe("");
  });
});

describe("hardenedServeOptions", () => {
  test("a throwing fetch handler answers a JSON 500 with no stack or file path", async () => {
    const logged: unknown[] = [];
    const server = Bun.serve({
      port: 0,
      ...hardenedServeOptions((e) => logged.push(e)),
      async fetch() {
        await Bun.sleep(0);
        throw new Error("secret detail from /srv/app/db.ts");
      },
    });
    try {
      const res = await fetch(server.url);
      const body = await res.text();
      expect(res.status).toBe(500);
      expect(res.headers.get("content-type")).toStartWith("application/json");
      expect(JSON.parse(body)).toEqual({ error: { code: "internal", message: "internal error" } });
      expect(body).not.toContain("secret");
      expect(body).not.toMatch(/\.ts|at |<html/i);
      expect(logged).toHaveLength(1);
    } finally {
      server.stop(true);
    }
  });

  test("a throwing logger still yields the JSON 500", async () => {
    const server = Bun.serve({
      port: 0,
      ...hardenedServeOptions(() => {
        throw new Error("logger down");
      }),
      fetch() {
        throw new Error("boom");
      },
    });
    try {
      const res = await fetch(server.url);
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: { code: "internal", message: "internal error" } });
    } finally {
      server.stop(true);
    }
  });

  // The control, in a child process (bun test counts an unhandled throw in a served handler as a failure):
  // what the hardening protects against. Bun's default is development mode unless NODE_ENV=production.
  test("without it, Bun's development page shows the error and source", async () => {
    const script = `
      const server = Bun.serve({ port: 0, fetch() { throw new Error("visible detail"); } });
      const res = await fetch(server.url);
      const body = await res.text();
      console.log(JSON.stringify({ status: res.status, type: res.headers.get("content-type"), leaks: body.includes("visible detail") }));
      server.stop(true);`;
    const env = { ...process.env };
    delete env.NODE_ENV;
    const proc = Bun.spawn([process.execPath, "-e", script], { env, stdout: "pipe", stderr: "ignore" });
    const out = (await new Response(proc.stdout).text()).trim().split("\n").at(-1) ?? "";
    await proc.exited;
    expect(JSON.parse(out)).toEqual({ status: 500, type: "text/html;charset=utf-8", leaks: true });
  });
});
