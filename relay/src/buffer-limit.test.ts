import { afterEach, expect, test } from "bun:test";
import type { Server } from "bun";
import { connect, type Socket } from "node:net";
import { createMetrics } from "@chat/common/metrics";
import { bufferOptions, SocketRegistry } from "./registry";
import { broadcastTopic, type SocketData } from "./socket";

// Bun's own buffer bound, met by a burst faster than the registry's checks: a real Bun server with the
// relay's options and registry, frames published past the registry (so that only Bun's bound can act),
// and a client that completes the handshake and then does not read.
const LIMIT = 64 * 1024;
const FRAME = 16 * 1024;

let server: Server<SocketData> | undefined;
let client: Socket | undefined;
afterEach(() => {
  client?.destroy();
  server?.stop(true);
});

test("a socket Bun drops frames for is closed at once (1006), so its client resumes instead of keeping a gap", async () => {
  const sockets = new SocketRegistry(LIMIT, createMetrics());
  let opened!: () => void;
  const open = new Promise<void>((r) => (opened = r));
  let closedWith: number | undefined;
  server = Bun.serve<SocketData>({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req, s) => (s.upgrade(req, { data: { user: "u", closed: false } as SocketData }) ? undefined : new Response(null, { status: 400 })),
    websocket: {
      ...bufferOptions(LIMIT),
      open(ws) {
        sockets.add(ws);
        sockets.subscribe(ws, "ch");
        opened();
      },
      message() {},
      close(ws, code) {
        closedWith = code;
        sockets.remove(ws);
      },
    },
  });
  sockets.start(server);
  sockets.stop(); // no sweep

  client = connect(server.port!, "127.0.0.1");
  await new Promise<void>((r) => client!.once("connect", () => r()));
  client.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const head = await new Promise<Buffer>((r) => client!.once("data", (d: Buffer) => r(d)));
  expect(head.toString()).toStartWith("HTTP/1.1 101");
  client.pause();
  await open;

  // Bounded: 48 MiB, far beyond loopback's socket buffers plus twice the limit.
  let sent = 0;
  while (closedWith === undefined && sent < 3000) {
    for (let k = 0; k < 10; k++, sent++) server.publish(broadcastTopic("ch"), String(sent).padStart(8, "0") + "x".repeat(FRAME - 8));
    await new Promise((r) => setImmediate(r)); // a turn for Bun to write (and close) in
  }
  expect(closedWith).toBe(1006); // left open (closeOnBackpressureLimit false), it would go on past the drops
  expect(sockets.size).toBe(0);

  // What the client got: frames 0..n-1 with none missing, then the connection's end.
  const chunks: Buffer[] = [];
  client.on("data", (d: Buffer) => chunks.push(d));
  const ended = new Promise((r) => client!.once("close", r));
  client.resume();
  await ended;
  const got = frames(Buffer.concat(chunks));
  expect(got.length).toBeGreaterThan(0);
  expect(got.length).toBeLessThan(sent);
  expect(got).toEqual(got.map((_, i) => i));
});

/** The numbers at the start of each complete text frame (an unmasked server stream); a cut-off last frame is not counted. */
function frames(bytes: Buffer): number[] {
  const out: number[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    let len = bytes[at + 1]! & 0x7f;
    let head = 2;
    if (len === 126) [len, head] = [bytes.readUInt16BE(at + 2), 4];
    else if (len === 127) [len, head] = [Number(bytes.readBigUInt64BE(at + 2)), 10];
    if (at + head + len > bytes.length) break;
    if ((bytes[at]! & 0x0f) === 1) out.push(Number(bytes.subarray(at + head, at + head + 8).toString()));
    at += head + len;
  }
  return out;
}
