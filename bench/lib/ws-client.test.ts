import { afterAll, describe, expect, test } from "bun:test";
import type { ServerWebSocket } from "bun";
import { RawWebSocket } from "./ws-client";

/** A real Bun.serve WebSocket server: echoes text, answers a few commands, refuses `/refuse`. */
const server = Bun.serve<{ auth: string | null }>({
  port: 0,
  hostname: "127.0.0.1",
  fetch(req, srv) {
    const url = new URL(req.url);
    if (url.pathname === "/refuse") return new Response("no", { status: 401 });
    return srv.upgrade(req, { data: { auth: req.headers.get("authorization") } }) ? undefined : new Response("upgrade", { status: 400 });
  },
  websocket: {
    open(ws) {
      ws.send(`hello ${ws.data.auth ?? "-"}`);
    },
    message(ws: ServerWebSocket<{ auth: string | null }>, m) {
      const text = String(m);
      if (text === "close-me") return ws.close(4001, "asked to");
      if (text === "ping-me") return void ws.ping("p");
      if (text.startsWith("big ")) return void ws.send("x".repeat(Number(text.slice(4))));
      if (text === "burst") {
        ws.cork(() => {
          for (let i = 0; i < 100; i++) ws.send(`b${i}`);
        });
        return;
      }
      ws.send(`echo ${text}`);
    },
    close() {},
  },
});
afterAll(() => server.stop(true));
const base = `ws://127.0.0.1:${server.port}`;

/** Opens a client and collects what it reports. */
function client(path = "/", headers?: Record<string, string>) {
  const ws = new RawWebSocket(base + path, headers);
  const got: string[] = [];
  let waiter: (() => void) | undefined;
  const opened = new Promise<void>((r) => (ws.onopen = r));
  const closed = new Promise<{ code: number; reason: string }>((r) => (ws.onclose = r));
  ws.onmessage = (e) => {
    got.push(e.data);
    waiter?.();
  };
  /** Resolves once `n` messages have arrived in all. */
  const messages = (n: number) =>
    new Promise<string[]>((resolve) => {
      const check = () => (got.length >= n ? resolve(got.slice(0, n)) : undefined);
      waiter = check;
      check();
    });
  return { ws, got, opened, closed, messages };
}

/** A client past the server's greeting. */
async function greeted() {
  const c = client();
  await c.opened;
  await c.messages(1);
  return c;
}

/** Closes `c` and waits until it is closed. */
async function bye(c: ReturnType<typeof client>) {
  c.ws.close();
  await c.closed;
}

describe("RawWebSocket against Bun.serve", () => {
  test("the upgrade carries headers; text goes both ways", async () => {
    const c = client("/?x=1", { authorization: "Bearer t0k" });
    await c.opened;
    expect(await c.messages(1)).toEqual(["hello Bearer t0k"]);
    c.ws.send("hi ünïcödé");
    expect((await c.messages(2))[1]).toBe("echo hi ünïcödé");
    c.ws.close();
    expect((await c.closed).code).toBe(1000);
  });

  test("payloads of 126+ and 65,536+ bytes, both ways (16- and 64-bit lengths)", async () => {
    const c = await greeted();
    c.ws.send("big 300");
    c.ws.send("big 70000");
    c.ws.send("y".repeat(70_000));
    const [, a, b, e] = await c.messages(4);
    expect(a!.length).toBe(300);
    expect(b!.length).toBe(70_000);
    expect(e).toBe("echo " + "y".repeat(70_000));
    await bye(c);
  });

  test("many frames in one read arrive in order", async () => {
    const c = await greeted();
    c.ws.send("burst");
    const all = await c.messages(101);
    expect(all.slice(1)).toEqual(Array.from({ length: 100 }, (_, i) => `b${i}`));
    await bye(c);
  });

  test("a ping is answered and the connection goes on", async () => {
    const c = await greeted();
    c.ws.send("ping-me");
    c.ws.send("after");
    expect((await c.messages(2))[1]).toBe("echo after");
    await bye(c);
  });

  test("the server's close code and reason are reported", async () => {
    const c = client();
    await c.opened;
    c.ws.send("close-me");
    expect(await c.closed).toEqual({ code: 4001, reason: "asked to" });
  });

  test("a refused upgrade closes with 1006 and never opens", async () => {
    const c = client("/refuse");
    let opened = false;
    void c.opened.then(() => (opened = true));
    const e = await c.closed;
    expect(e.code).toBe(1006);
    expect(e.reason).toContain("401");
    expect(opened).toBe(false);
  });

  test("nothing listening: 1006", async () => {
    const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const port = probe.port;
    probe.stop(true);
    const ws = new RawWebSocket(`ws://127.0.0.1:${port}/`);
    const e = await new Promise<{ code: number }>((r) => (ws.onclose = r));
    expect(e.code).toBe(1006);
  });

  test("closed while connecting: reported closed, never opened", async () => {
    const c = client();
    let opened = false;
    void c.opened.then(() => (opened = true));
    c.ws.close();
    expect((await c.closed).code).toBe(1006);
    expect(opened).toBe(false);
  });

  test("wss: is refused up front", () => {
    expect(() => new RawWebSocket("wss://127.0.0.1:1/")).toThrow("ws: only");
  });
});
