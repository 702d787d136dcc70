import { afterAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { bufferRequest, checkDeclaredLength, readBodyLimited, withBody } from "./body.ts";
import { HttpError } from "./errors.ts";
import { parseRaw, rawHttp } from "./testing.ts";

const post = (body: RequestInit["body"], headers: Record<string, string> = {}) =>
  new Request("http://x/v1/teams", { method: "POST", body, headers, duplex: "half" } as RequestInit);

/** A body of `chunks` chunks of `size` bytes that records how much was pulled and whether it was cancelled. */
function countingStream(chunks: number, size: number) {
  const stats = { pulled: 0, cancelled: false };
  let left = chunks;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (left-- <= 0) return c.close();
        stats.pulled += size;
        c.enqueue(new Uint8Array(size).fill(97));
      },
      cancel() {
        stats.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, stats };
}

async function refusal(p: Promise<unknown>): Promise<{ status: number; body: unknown }> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    const res = err.response();
    return { status: res.status, body: await res.json() };
  }
  throw new Error("expected a refusal");
}

describe("checkDeclaredLength", () => {
  test("no Content-Length, or one within the limit: null", () => {
    expect(checkDeclaredLength(post(null), 10)).toBeNull();
    expect(checkDeclaredLength(post("x", { "content-length": "10" }), 10)).toBeNull();
    expect(checkDeclaredLength(post("x", { "content-length": "0" }), 10)).toBeNull();
  });

  test("over the limit: 413 with the envelope", async () => {
    for (const cl of ["11", "99999999999999999999999999"]) {
      const res = checkDeclaredLength(post("x", { "content-length": cl }), 10)!;
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual({ error: { code: "too_large", message: "request body larger than 10 bytes" } });
    }
  });

  test.each(["abc", "-1", "+3", "3, 3", "1e3", "0x10", "3.0", ""])("malformed %p: 400", async (cl) => {
    const res = checkDeclaredLength(post("x", { "content-length": cl }), 10)!;
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("validation");
  });
});

describe("readBodyLimited", () => {
  test("no body: empty", async () => {
    expect(await readBodyLimited(new Request("http://x/"), 10)).toEqual(new Uint8Array(0));
  });

  test("a body up to the limit is returned whole", async () => {
    expect(new TextDecoder().decode(await readBodyLimited(post("0123456789"), 10))).toBe("0123456789");
  });

  test("a multi-chunk stream is concatenated", async () => {
    const { stream } = countingStream(5, 3);
    expect(await readBodyLimited(post(stream), 15)).toEqual(new Uint8Array(15).fill(97));
  });

  test("one byte over: 413", async () => {
    expect(await refusal(readBodyLimited(post("0123456789!"), 10))).toEqual({
      status: 413,
      body: { error: { code: "too_large", message: "request body larger than 10 bytes" } },
    });
  });

  test("a declared length over the limit is refused without pulling a byte", async () => {
    const { stream, stats } = countingStream(100, 1024);
    expect((await refusal(readBodyLimited(post(stream, { "content-length": "102400" }), 1000))).status).toBe(413);
    expect(stats.pulled).toBe(0);
  });

  test("a stream without length stops at limit + one chunk and is cancelled", async () => {
    const { stream, stats } = countingStream(10_000, 1024); // 10 MiB offered
    expect((await refusal(readBodyLimited(post(stream), 4096))).status).toBe(413);
    expect(stats.pulled).toBe(5 * 1024);
    expect(stats.cancelled).toBe(true);
  });

  test("a stream that breaks off: 400", async () => {
    let n = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (n++ === 2) return c.error(new Error("connection reset"));
        c.enqueue(new Uint8Array(4));
      },
    });
    expect(await refusal(readBodyLimited(post(stream), 1000))).toEqual({
      status: 400,
      body: { error: { code: "validation", message: "request body could not be read" } },
    });
  });

  test("a consumed body is a programming error", async () => {
    const req = post("abc");
    await req.text();
    await expect(readBodyLimited(req, 10)).rejects.toThrow(TypeError);
  });
});

describe("bufferRequest", () => {
  test("returns the same request with its body held in memory", async () => {
    const { stream } = countingStream(3, 2);
    const req = new Request("http://x/v1/teams?a=1", {
      method: "PATCH",
      body: stream,
      headers: { "content-type": "application/json", authorization: "Bearer t" },
      duplex: "half",
    } as RequestInit);
    const out = await bufferRequest(req, 100);
    expect(out).toBeInstanceOf(Request);
    const r = out as Request;
    expect([r.method, r.url, r.headers.get("authorization"), r.headers.get("content-type")]).toEqual([
      "PATCH",
      "http://x/v1/teams?a=1",
      "Bearer t",
      "application/json",
    ]);
    expect(await r.text()).toBe("aaaaaa");
  });

  test("no body: the request itself", async () => {
    const req = new Request("http://x/");
    expect(await bufferRequest(req, 1)).toBe(req);
  });

  test("over the limit: the 413 response", async () => {
    const out = await bufferRequest(post("too long"), 3);
    expect(out).toBeInstanceOf(Response);
    expect((out as Response).status).toBe(413);
  });
});

test("withBody keeps method, URL and headers", async () => {
  const original = post("{}", { "content-type": "application/json", "content-length": "2", authorization: "Bearer t" });
  const bytes = await readBodyLimited(original, 10);
  const r = withBody(original, bytes);
  expect([r.method, r.url, r.headers.get("content-length"), r.headers.get("authorization"), await r.text()]).toEqual([
    "POST",
    "http://x/v1/teams",
    "2",
    "Bearer t",
    "{}",
  ]);
});

describe("behind a real Bun.serve", () => {
  const LIMIT = 64 * 1024;
  const log: { handled: number; read: number; outcome: string } = { handled: 0, read: 0, outcome: "" };
  let handlerEntered: () => void = () => {};
  const server = Bun.serve({
    port: 0,
    development: false,
    maxRequestBodySize: 1024 * 1024 * 1024,
    async fetch(req) {
      log.handled++;
      handlerEntered();
      // Count what the limited reader really pulls off the socket.
      const counter = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          log.read += chunk.byteLength;
          c.enqueue(chunk);
        },
      });
      const counted = req.body ? new Request(req, { body: req.body.pipeThrough(counter) }) : req;
      const early = checkDeclaredLength(req, LIMIT);
      if (early) {
        log.outcome = "declared";
        return early;
      }
      try {
        const body = await readBodyLimited(counted, LIMIT);
        log.outcome = "ok";
        return Response.json({ bytes: body.byteLength });
      } catch (err) {
        log.outcome = "streamed";
        if (err instanceof HttpError) return err.response();
        throw err;
      }
    },
  });
  afterAll(() => server.stop(true));
  const reset = () => Object.assign(log, { handled: 0, read: 0, outcome: "" });

  test("a streamed 50 MB chunked upload gets 413 after about `limit` bytes", async () => {
    reset();
    const TOTAL = 50 * 1024 * 1024;
    const CHUNK = 16 * 1024;
    const { stream, stats } = countingStream(TOTAL / CHUNK, CHUNK);
    const res = await fetch(server.url, {
      method: "POST",
      body: stream,
      headers: { "content-type": "application/json" },
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: { code: "too_large", message: `request body larger than ${LIMIT} bytes` } });
    expect(log.outcome).toBe("streamed");
    expect(log.read).toBeGreaterThan(LIMIT);
    expect(log.read).toBeLessThanOrEqual(LIMIT + 256 * 1024); // limit + a chunk or two in flight through the counter
    expect(stats.pulled).toBeLessThan(8 * 1024 * 1024); // the client stopped long before 50 MB
  });

  test("a declared Content-Length over the limit gets 413 without reading", async () => {
    reset();
    const res = await fetch(server.url, { method: "POST", body: new Uint8Array(LIMIT + 1) });
    expect(res.status).toBe(413);
    expect(log.outcome).toBe("declared");
    expect(log.read).toBe(0);
  });

  test("a body within the limit is read whole", async () => {
    reset();
    const res = await fetch(server.url, { method: "POST", body: new Uint8Array(LIMIT) });
    expect(await res.json()).toEqual({ bytes: LIMIT });
  });

  test("Bun calls fetch once the headers are in, before the body arrives (it does not buffer)", async () => {
    reset();
    const entered = new Promise<void>((r) => (handlerEntered = r));
    const answer = new Promise<string>((resolve) => {
      let out = "";
      const sock = connect(server.port!, "127.0.0.1", async () => {
        sock.write("POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nab");
        await entered; // the handler runs with only 2 of 5 bytes sent
        sock.write("cde");
      });
      sock.setEncoding("latin1");
      sock.on("data", (d: string) => (out += d));
      sock.on("close", () => resolve(out));
    });
    const r = parseRaw(await answer);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ bytes: 5 });
  });
});

describe("Bun's own maxRequestBodySize", () => {
  let handled = 0;
  const server = Bun.serve({
    port: 0,
    development: false,
    maxRequestBodySize: 1000,
    async fetch(req) {
      handled++;
      try {
        await req.arrayBuffer();
      } catch {
        return new Response("handler saw the error", { status: 500 });
      }
      return new Response("ok");
    },
  });
  afterAll(() => server.stop(true));

  test("a declared Content-Length over it: Bun answers a bare 413 before the handler", async () => {
    handled = 0;
    const r = parseRaw(await rawHttp(server.port, "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2000\r\n\r\n"));
    expect(r.status).toBe(413);
    expect(r.body).toBe("");
    expect(handled).toBe(0);
  });

  test("a chunked body over it: the handler runs, reading fails, and Bun answers a bare 413 itself", async () => {
    handled = 0;
    const chunk = "3e8\r\n" + "b".repeat(1000) + "\r\n";
    const r = parseRaw(
      await rawHttp(server.port, "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk.repeat(3) + "0\r\n\r\n"),
    );
    expect(r.status).toBe(413);
    expect(r.body).toBe("");
    expect(handled).toBe(1);
  });

  test("malformed or conflicting lengths: Bun answers a bare 400 before the handler", async () => {
    handled = 0;
    for (const h of ["Content-Length: abc", "Content-Length: 3\r\nContent-Length: 4", "Content-Length: 3\r\nTransfer-Encoding: chunked"]) {
      const r = parseRaw(await rawHttp(server.port, `POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${h}\r\n\r\nabc`));
      expect(r.status).toBe(400);
    }
    expect(handled).toBe(0);
  });
});
