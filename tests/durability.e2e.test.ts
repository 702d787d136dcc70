import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { Client, api, createTeam, startStandalone, stored, uniqueUser } from "./harness";
import { distributed, useTarget } from "./target";

// Real processes and sockets: each wait inside has its own deadline; this bounds a whole test.
setDefaultTimeout(60_000);

// These tests kill and restart the server process, so they run against a standalone process of their own.
describe.skipIf(distributed)("durability (standalone process)", () => {
  const t = useTarget(() => startStandalone());

  test("every acked message survives a SIGKILL right after its ack", async () => {
    const a = uniqueUser("a");
    const team = await createTeam(t, a);
    const c = await Client.connect(t, await t.token(a));
    const N = 40; // within the per-connection burst
    for (let i = 0; i < N; i++) c.send({ channel_id: team, to: "*", type: "text", data: `k${i}`, client_msg_id: `k-${i}` });
    const acks = await Promise.all(Array.from({ length: N }, (_, i) => c.find((f) => f.event === "ack" && f.client_msg_id === `k-${i}`)));
    await t.stop("SIGKILL");
    await t.restart();
    // The restarted controller consumes the log again from its last stored batch; history follows it.
    await stored(t, team, await t.token(a), acks.at(-1)!.id);
    const h = await api(t, "GET", `/v1/teams/${team}/messages?limit=100`, await t.token(a));
    expect(h.status).toBe(200);
    const kept = new Map(h.body.data.map((m: any) => [m.id, m]));
    for (const ack of acks) expect(kept.get(ack.id)).toMatchObject({ seq: ack.seq, ts: ack.ts, from: a });
  });

  test("a client_msg_id resent after a SIGKILL and restart gets the original ack and makes no second message", async () => {
    const a = uniqueUser("a");
    const team = await createTeam(t, a);
    let c = await Client.connect(t, await t.token(a));
    const frame = { channel_id: team, to: "*", type: "text", data: "once", client_msg_id: "once-1" };
    const ack = await c.request(frame);
    await c.find((f) => f.event === "message" && f.id === ack.id); // published (stored, or consumed again after the restart)
    await t.stop("SIGKILL");
    await t.restart();
    c = await Client.connect(t, await t.token(a));
    expect(await c.request(frame)).toEqual(ack);
    const h = await api(t, "GET", `/v1/teams/${team}/messages?limit=100`, await t.token(a));
    expect(h.body.data.filter((m: any) => m.client_msg_id === "once-1").map((m: any) => m.id)).toEqual([ack.id]);
    await c.close();
  });

  test("teams and history survive a graceful restart, and seq keeps increasing", async () => {
    const [a, b] = [uniqueUser("a"), uniqueUser("b")];
    const team = await createTeam(t, a, [b]);
    let c = await Client.connect(t, await t.token(a));
    const before = await c.request({ channel_id: team, to: "*", type: "text", data: "before", client_msg_id: "r-1" });
    await c.find((f) => f.event === "message" && f.id === before.id);
    await t.stop("SIGTERM");
    expect(c.closed?.code ?? (await c.waitClosed()).code).toBe(1001);
    await t.restart();
    const got = await api(t, "GET", `/v1/teams/${team}`, await t.token(b));
    expect(got.body.data.members).toEqual([a, b]);
    c = await Client.connect(t, await t.token(a), `since=${team}:0`);
    expect((await c.find((f) => f.event === "message" && f.id === before.id)).data).toBe("before");
    const after = await c.request({ channel_id: team, to: "*", type: "text", data: "after", client_msg_id: "r-2" });
    expect(after.seq).toBeGreaterThan(before.seq);
    await c.close();
  });
});

/** A WebSocket client that completes the handshake and then never reads: the slowest possible consumer. */
async function stalledSocket(base: string, token: string): Promise<{ sock: Socket; drainAll(): Promise<Buffer> }> {
  const url = new URL(base);
  const sock = connect(Number(url.port), url.hostname);
  await new Promise<void>((r) => sock.once("connect", () => r()));
  sock.write(
    `GET /v1/ws HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`,
  );
  const head = await new Promise<Buffer>((r) => sock.once("data", (d: Buffer) => r(d)));
  if (!head.toString().startsWith("HTTP/1.1 101")) throw new Error(`no upgrade: ${head.toString().split("\r\n")[0]}`);
  sock.pause();
  return {
    sock,
    drainAll: () =>
      new Promise((resolve) => {
        const chunks: Buffer[] = [];
        sock.on("data", (d: Buffer) => chunks.push(d));
        sock.on("close", () => resolve(Buffer.concat(chunks)));
        sock.resume();
      }),
  };
}

const METRICS = "metrics-secret-0123456789";
describe.skipIf(distributed)("slow consumers (standalone process)", () => {
  const t = useTarget(() => startStandalone({ LIMIT_WS_BUFFER_BYTES: "65536", LIMIT_RATE_PER_SEC: "100000", LIMIT_RATE_BURST: "100000", METRICS_TOKEN: METRICS }));

  test("a client that stops reading is closed with 1013 instead of being buffered without bound", async () => {
    const [a, slow] = [uniqueUser("a"), uniqueUser("slow")];
    const team = await createTeam(t, a, [slow]);
    const stalled = await stalledSocket(t.base, await t.token(slow));
    const sender = await Client.connect(t, await t.token(a));
    const data = "x".repeat(3900);
    // Bounded: 40 MB at most, far beyond loopback socket buffers plus the 64 KiB limit.
    for (let i = 0; i < 10_000; i++) {
      const ack = await sender.request({ channel_id: team, to: "*", type: "text", data, client_msg_id: `s-${i}` });
      expect(ack.event).toBe("ack");
      if (i % 100 === 99 && /chat_ws_slow_consumers_closed_total 1/.test((await api(t, "GET", "/v1/metrics", METRICS)).body)) break;
    }
    const bytes = await stalled.drainAll();
    // The stream ends with a close frame: opcode 0x88, then the status code 1013 (0x03f5).
    const tail = bytes.subarray(Math.max(0, bytes.length - 64));
    const at = tail.lastIndexOf(0x88);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(tail.readUInt16BE(at + 2)).toBe(1013);
    expect(sender.closed).toBeUndefined();
    await sender.close();
  });
});
