import { afterEach, expect, test } from "bun:test";
import http2 from "node:http2";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { EmbeddedLog } from "@chat/common/adapters/embedded-log";
import { SqliteStore } from "@chat/common/adapters/sqlite-store";
import { signDevToken } from "@chat/common/auth";
import { loadConfig } from "@chat/common/config";
import { waitFor } from "@chat/common/contracts/wait";
import { objectId } from "@chat/common/ids";
import type { Logger } from "@chat/common/log";
import { createTeam } from "@chat/common/membership";
import type { LogEntry } from "@chat/common/message";
import { newTeam } from "@chat/common/teams";
import { createController } from "@chat/controller/service";
import { ControllerService } from "@chat/proto/chat/v1/controller_pb";
import { createRelay, type SocketData } from "@chat/relay/service";

// A relay and a controller as distributed mode runs them (gRPC over HTTP/2), with a TCP proxy between
// them that the test cuts and restores: both processes live on, only their connection dies.
const SECRET = "stream-cut-test-secret".padEnd(40, "x");
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

interface Side {
  peer?: Socket<Side>;
  /** Bytes not yet taken by this socket, written on drain. */
  out: Uint8Array[];
  /** The client's bytes that arrived before its upstream connection opened (client side only). */
  early: Uint8Array[];
}

/** Forwards loopback TCP to `port`; `cut()` drops every connection and refuses new ones until `restore()`. */
function tcpProxy(port: number) {
  let refusing = false;
  const live = new Set<Socket<Side>>();
  // Queued bytes are copied: a read buffer is the socket's only during its callback.
  const send = (s: Socket<Side>, chunk: Uint8Array) => {
    if (s.data.out.length) return void s.data.out.push(chunk.slice());
    const n = s.write(chunk);
    if (n < chunk.length) s.data.out.push(chunk.slice(Math.max(0, n)));
  };
  const drain = (s: Socket<Side>) => {
    while (s.data.out.length) {
      const chunk = s.data.out[0]!;
      const n = s.write(chunk);
      if (n < chunk.length) return void (s.data.out[0] = chunk.subarray(Math.max(0, n)));
      s.data.out.shift();
    }
  };
  const closed = (s: Socket<Side>) => {
    live.delete(s);
    s.data.peer?.end();
  };
  const listener: TCPSocketListener<Side> = Bun.listen<Side>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        client.data = { out: [], early: [] };
        if (refusing) return void client.end();
        live.add(client);
        void Bun.connect<Side>({
          hostname: "127.0.0.1",
          port,
          socket: {
            open(up) {
              up.data = { peer: client, out: [], early: [] };
              live.add(up);
              client.data.peer = up;
              for (const chunk of client.data.early.splice(0)) send(up, chunk);
            },
            data(up, chunk) {
              send(client, chunk);
            },
            drain,
            close: closed,
            error: closed,
          },
        }).catch(() => client.end());
      },
      data(client, chunk) {
        if (client.data.peer) send(client.data.peer, chunk);
        else client.data.early.push(chunk.slice());
      },
      drain,
      close: closed,
      error: closed,
    },
  });
  return {
    port: listener.port,
    cut() {
      refusing = true;
      for (const s of [...live]) s.end();
    },
    restore() {
      refusing = false;
    },
    stop() {
      this.cut();
      listener.stop(true);
    },
  };
}

/** An HTTP/2 server for a controller's routes, and its port. */
async function serveH2(controller: ReturnType<typeof createController>) {
  const h2 = http2.createServer(connectNodeAdapter({ routes: controller.routes, interceptors: controller.interceptors }));
  await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
  return { h2, port: (h2.address() as { port: number }).port };
}

/**
 * A controller served over HTTP/2, a relay connected to it through the proxy, a team of a@x.dev.
 * `second`: the relay also has a second controller, reached directly, that owns nothing of the log
 * (a log of its own, empty) but answers unary calls (membership) while the first is cut off.
 */
async function setup(opts: { second?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "chat-stream-cut-"));
  const log = new EmbeddedLog(join(dir, "log"));
  const store = new SqliteStore(dir);
  const config = loadConfig({ AUTH_JWT_SECRET: SECRET, RELAY_ID: "cut-relay" });
  const controller = createController(config, { log, teams: store, messages: store }, { logger: quiet, onFatal: () => {} });
  controller.start();
  const { h2, port } = await serveH2(controller);
  const proxy = tcpProxy(port);
  const controllers = [{ name: "over-proxy", client: createClient(ControllerService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${proxy.port}` })) }];
  if (opts.second) {
    const otherLog = new EmbeddedLog(join(dir, "other-log"));
    const other = createController(config, { log: otherLog, teams: store, messages: store }, { logger: quiet, onFatal: () => {} });
    other.start();
    const served = await serveH2(other);
    controllers.push({ name: "direct", client: createClient(ControllerService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${served.port}` })) });
    cleanup.push(async () => {
      await other.stop();
      served.h2.close();
      await otherLog.close();
    });
  }
  const relay = createRelay(config, { log, controllers }, { logger: quiet });
  const server = Bun.serve<SocketData>({ port: 0, hostname: "127.0.0.1", fetch: (req, s) => relay.fetch(req, s), websocket: relay.websocket });
  relay.start(server);
  cleanup.push(async () => {
    await relay.stop();
    server.stop(true);
    proxy.stop();
    await controller.stop();
    h2.close();
    await log.close();
    store.close();
  });
  await relay.whenConnected();
  const team = await createTeam(store, newTeam(objectId(), "a@x.dev", { name: "Cut" }));

  /** A socket of a@x.dev, once ready; `messages()` are the data of the message frames it got. */
  const connect = async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/ws`, { headers: { authorization: `Bearer ${await signDevToken(SECRET, "a@x.dev")}` } } as any);
    const frames: any[] = [];
    ws.onmessage = (e) => frames.push(JSON.parse(String(e.data)));
    cleanup.push(() => ws.close());
    await waitFor(() => frames.some((f) => f.event === "ready"), "the socket's ready frame");
    expect(frames[0].channels).toEqual([team.id]);
    return { ws, frames, messages: () => frames.filter((f) => f.event === "message").map((f) => f.data) };
  };
  const interested = () => controller.hub.streamOf("cut-relay")?.interest.has(team.id) === true;
  const send = async (data: string) => {
    const entry: LogEntry = { kind: "message", id: objectId(), channel_id: team.id, to: "*", type: "text", data, from: "b@x.dev", ts: new Date().toISOString() };
    await log.append([{ channelId: team.id, value: JSON.stringify(entry) }]);
  };
  /** Cuts the relay's connection, runs `meanwhile` once the controller saw the stream end, then restores it. */
  const cut = async (meanwhile: () => Promise<void> = async () => {}) => {
    proxy.cut();
    await waitFor(() => controller.hub.relayCount === 0, "the controller to see the stream end");
    await meanwhile();
    proxy.restore();
    await waitFor(() => controller.hub.relayCount === 1, "the relay to re-open its stream", 15_000);
  };
  return { store, log, team, connect, interested, send, cut };
}

test("a relay cut off from a live controller gets, live, what its channels received meanwhile, even a channel it had seen nothing of", async () => {
  const { store, team, connect, interested, send, cut } = await setup();
  const socket = await connect();
  await waitFor(interested, "the relay's interest in the team");
  // Nothing of the team has reached this relay yet, so it has no seq to read the store back from.
  await cut(async () => {
    await send("while cut");
    // Published before it is stored: once stored, it went out to nobody (no stream was open).
    await waitFor(async () => (await store.since(team.id, undefined, 0, 10)).length === 1, "the message to be stored");
  });
  await waitFor(() => socket.messages().includes("while cut"), "the message published while cut, delivered live");
  await send("after");
  await waitFor(() => socket.messages().includes("after"), "the next message");
  expect(socket.messages()).toEqual(["while cut", "after"]);
}, 30_000);

test("after a cut nothing the relay had received is delivered again, even to a socket that came after the channel was dropped", async () => {
  const { connect, interested, send, cut } = await setup();
  const first = await connect();
  await send("old");
  await waitFor(() => first.messages().includes("old"), "the first message");
  first.ws.close(); // the relay drops the team, and with it the seq it had delivered
  await waitFor(() => !interested(), "the relay to drop the team");
  const second = await connect();
  await waitFor(interested, "the relay's interest in the team again");
  await cut();
  await send("after");
  await waitFor(() => second.messages().includes("after"), "the message after the cut");
  expect(second.messages()).toEqual(["after"]);
}, 30_000);

test("a channel the relay took up during the cut (a socket admitted through another controller) gets, live, what it received after that", async () => {
  const { store, log, team, connect, interested, send, cut } = await setup({ second: true });
  expect(interested()).toBe(false); // no socket of the team yet: not among the relay's channels at the cut
  let socket!: Awaited<ReturnType<typeof connect>>;
  await cut(async () => {
    socket = await connect(); // admitted while the stream is down: the controller does not know the relay wants the team
    await send("while cut");
    await waitFor(async () => (await store.since(team.id, undefined, 0, 10)).length === 1, "the message to be stored");
    // A membership event of the team after it (such events reach every relay): replayed in publish order, not before the message.
    const joined = { kind: "member_joined", channel_id: team.id, user: "c@x.dev", by: "a@x.dev", ts: new Date().toISOString() };
    await log.append([{ channelId: team.id, value: JSON.stringify(joined) }]);
  });
  await waitFor(() => socket.frames.some((f) => f.event === "member_joined"), "the membership event published while cut");
  await waitFor(() => socket.messages().includes("while cut"), "the message published while cut, delivered live");
  await send("after");
  await waitFor(() => socket.messages().includes("after"), "the next message");
  expect(socket.messages()).toEqual(["while cut", "after"]);
}, 30_000);
