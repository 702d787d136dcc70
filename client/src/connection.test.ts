import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { fakeToken, ScriptedServer, until } from "../test/scripted-server";
import { createChatClient, type ChatClient } from "./index";
import type { MessageEvent } from "./protocol";

const TEAM = "6b0c3c942efa29a8ae9e64ec";
const ME = "alice@example.dev";
const HOUR = 3600_000;

let server: ScriptedServer;
let client: ChatClient | undefined;
beforeEach(() => {
  server = new ScriptedServer();
});
afterEach(() => {
  client?.close();
  client = undefined;
  server.stop();
});

const fast = { backoff: { initialMs: 20, maxMs: 100 } };
const ready = (extra: Record<string, unknown> = {}) => ({ event: "ready", user: ME, channels: [TEAM], expires_at: new Date(Date.now() + HOUR).toISOString(), ...extra });
const msg = (seq: number, extra: Partial<MessageEvent> = {}): MessageEvent => ({
  event: "message",
  id: seq.toString(16).padStart(24, "0"),
  seq,
  channel_id: TEAM,
  to: "*",
  type: "text",
  data: `m${seq}`,
  ts: new Date().toISOString(),
  from: "bob@example.dev",
  ...extra,
});

describe("ChatConnection against a scripted server", () => {
  test("an ack lost with the connection: the send is resent with its client_msg_id, and shows once", async () => {
    client = createChatClient({ baseUrl: server.baseUrl, token: () => fakeToken(ME, Date.now() + HOUR), ...fast });
    void client.connection.connect();
    const s1 = await server.socket(0);
    s1.push(ready());
    await client.connection.connect();

    const acked = client.store.send(TEAM, { data: "hello" });
    const sent = await s1.frame((f) => f.data === "hello");
    expect(client.store.pendingIn(TEAM)).toHaveLength(1);
    s1.close(1001, "server shutting down"); // durable on the server, but the ack never left

    const s2 = await server.socket(1);
    s2.push(ready());
    const resent = await s2.frame((f) => f.data === "hello");
    expect(resent.client_msg_id).toBe(sent.client_msg_id); // same id: the server's dedupe answers it
    const id = "0000000000000000000000aa";
    s2.push({ event: "ack", client_msg_id: sent.client_msg_id, id, seq: 7, ts: new Date().toISOString() });
    expect((await acked).id).toBe(id);
    // A replay of the same message (e.g. from a resume) changes nothing.
    s2.push(msg(7, { id, from: ME, data: "hello", client_msg_id: sent.client_msg_id }));
    await Bun.sleep(50);
    expect(client.store.timeline(TEAM).map((m) => [m.id, m.data])).toEqual([[id, "hello"]]);
    expect(client.store.pendingIn(TEAM)).toHaveLength(0);
    expect(s2.received.filter((f) => f.data === "hello")).toHaveLength(1);
  });

  test("our own echo shows the message but settles nothing: only an ack does, after a resend if the socket closed first", async () => {
    client = createChatClient({ baseUrl: server.baseUrl, token: () => fakeToken(ME, Date.now() + HOUR), ...fast });
    void client.connection.connect();
    const s1 = await server.socket(0);
    s1.push(ready());
    await client.connection.connect();
    let settled = false;
    const acked = client.store.send(TEAM, { data: "hi" }).finally(() => (settled = true));
    const sent = await s1.frame((f) => f.data === "hi");
    const id = "0000000000000000000000bb";
    s1.push(msg(3, { id, from: ME, data: "hi", client_msg_id: sent.client_msg_id }));
    await until(() => client!.store.timeline(TEAM).length === 1); // shown, no longer pending
    expect(client.store.pendingIn(TEAM)).toHaveLength(0);
    expect(settled).toBe(false); // delivered is not durable (standalone delivers before its fsync)
    s1.close();
    const s2 = await server.socket(1);
    expect(s2.since).toEqual([`${TEAM}:3`]);
    s2.push(ready());
    const resent = await s2.frame((f) => f.data === "hi");
    expect(resent.client_msg_id).toBe(sent.client_msg_id); // the server's dedupe answers it
    s2.push({ event: "ack", client_msg_id: sent.client_msg_id, id, seq: 3, ts: new Date().toISOString() });
    expect((await acked).id).toBe(id);
    expect(client.store.timeline(TEAM).map((m) => m.id)).toEqual([id]);
  });

  test("a resume resends `since` per channel and drops what it already had, by seq", async () => {
    client = createChatClient({ baseUrl: server.baseUrl, token: () => fakeToken(ME, Date.now() + HOUR), ...fast });
    const seen: number[] = [];
    client.connection.on("message", (m) => seen.push(m.seq));
    void client.connection.connect();
    const s1 = await server.socket(0);
    s1.push(ready());
    for (const seq of [3, 4, 5]) s1.push(msg(seq));
    await until(() => seen.length === 3);
    s1.close(1013, "client too slow");

    const s2 = await server.socket(1);
    expect(s2.since).toEqual([`${TEAM}:5`]);
    s2.push(ready());
    // An overlapping replay (4, 5 again), a membership event, then new traffic.
    for (const seq of [4, 5]) s2.push(msg(seq));
    s2.push({ event: "member_joined", channel_id: TEAM, user: "carol@example.dev", by: ME, seq: 6 });
    s2.push(msg(5));
    s2.push(msg(8));
    await until(() => seen.length === 4);
    await Bun.sleep(50);
    expect(seen).toEqual([3, 4, 5, 8]);
    expect(client.store.timeline(TEAM).map((m) => m.seq)).toEqual([3, 4, 5, 8]);
    expect(client.connection.lastSeq.get(TEAM)).toBe(8);
  });

  test("a token refresh racing a reconnect: one new token, used by the next socket", async () => {
    let calls = 0;
    const t1 = fakeToken(ME, Date.now() + 30_000, "t1");
    const t2 = fakeToken(ME, Date.now() + HOUR, "t2");
    const token = async () => {
      calls++;
      if (calls === 1) return t1;
      await Bun.sleep(150); // the Auth Service is slow
      return t2;
    };
    client = createChatClient({ baseUrl: server.baseUrl, token, ...fast, refreshBeforeMs: 1_000 });
    void client.connection.connect();
    const s1 = await server.socket(0);
    expect(s1.token).toBe(t1);
    s1.push(ready({ expires_at: new Date(Date.now() + 30_000).toISOString() }));
    await client.connection.connect();
    s1.push({ event: "token_expiring", expires_at: new Date(Date.now() + 30_000).toISOString() });
    await Bun.sleep(20);
    s1.close(1001, "server shutting down"); // before the new token arrives

    const s2 = await server.socket(1);
    expect(s2.token).toBe(t2); // the reconnect waited for the refresh's token instead of reusing t1
    s2.push(ready());
    await Bun.sleep(200);
    expect(calls).toBe(2);
    expect(s1.received.filter((f) => f.op === "refresh")).toHaveLength(0);
    expect(s2.received.filter((f) => f.op === "refresh")).toHaveLength(0);
    expect(client.connection.state).toBe("open");
  });

  test("token_expiring on an open socket: refresh in band, and the ack extends the socket", async () => {
    let calls = 0;
    const tokens = [fakeToken(ME, Date.now() + 50_000, "a"), fakeToken(ME, Date.now() + HOUR, "b")];
    client = createChatClient({ baseUrl: server.baseUrl, token: () => tokens[Math.min(calls++, 1)]!, ...fast });
    void client.connection.connect();
    const s1 = await server.socket(0);
    s1.push(ready({ expires_at: new Date(Date.now() + 50_000).toISOString() }));
    await client.connection.connect();
    s1.push({ event: "token_expiring", expires_at: new Date(Date.now() + 50_000).toISOString() });
    const refresh = await s1.frame((f) => f.op === "refresh");
    expect(refresh.token).toBe(tokens[1]);
    const exp = new Date(Date.now() + HOUR).toISOString();
    s1.push({ event: "ack", op: "refresh", client_msg_id: refresh.client_msg_id, expires_at: exp });
    await until(() => client!.connection.expiresAt === Date.parse(exp));
    // The server closing with 4001 anyway: the client reconnects with a fresh token, not the spent one.
    s1.close(4001, "token expired");
    const s2 = await server.socket(1);
    expect(s2.token).not.toBe(tokens[0]);
  });

  test("a refused upgrade asks REST why: a new token on 401, and `unauthorized` when the provider has none", async () => {
    const bad = fakeToken(ME, Date.now() + HOUR, "bad");
    const good = fakeToken(ME, Date.now() + HOUR, "good");
    let next = bad;
    server.admit = (url) => (url.searchParams.get("access_token") === good ? undefined : 401);
    server.teamsStatus = (t) => (t === good ? 200 : 401);
    const reasons: string[] = [];
    client = createChatClient({
      baseUrl: server.baseUrl,
      token: (reason) => {
        reasons.push(reason);
        return next;
      },
      ...fast,
    });
    const states: string[] = [];
    client.connection.on("state", (s) => states.push(s.state));
    await expect(client.connection.connect()).rejects.toThrow("token rejected");
    expect(client.connection.state).toBe("unauthorized");
    expect(reasons).toEqual(["connect", "rejected"]);

    next = good; // the user signs in again
    client.connection.reconnectNow();
    const s = await server.socket(0);
    expect(s.token).toBe(good);
    s.push(ready());
    await until(() => client!.connection.state === "open");
    expect(states).toEqual(["connecting", "reconnecting", "unauthorized", "reconnecting", "open"]);
  });

  test("refused sends fail; transient errors are retried with the same client_msg_id", async () => {
    client = createChatClient({ baseUrl: server.baseUrl, token: () => fakeToken(ME, Date.now() + HOUR), ...fast });
    void client.connection.connect();
    const s1 = await server.socket(0);
    s1.push(ready());
    await client.connection.connect();
    const refused = client.store.send(TEAM, { to: "nobody@example.dev", data: "x" });
    const f1 = await s1.frame((f) => f.data === "x");
    s1.push({ event: "error", code: "not_found", message: "recipient is not a member of this team", client_msg_id: f1.client_msg_id });
    await expect(refused).rejects.toThrow("recipient is not a member");
    expect(client.store.pendingIn(TEAM, "nobody@example.dev")[0]?.status).toBe("failed");

    const later = client.store.send(TEAM, { data: "y" });
    const f2 = await s1.frame((f) => f.data === "y");
    s1.push({ event: "error", code: "rate_limited", message: "slow down", client_msg_id: f2.client_msg_id });
    await until(() => s1.received.filter((f) => f.data === "y").length === 2, 3000, "the retry");
    s1.push({ event: "ack", client_msg_id: f2.client_msg_id, id: "0000000000000000000000bb", seq: 9, ts: new Date().toISOString() });
    expect((await later).seq).toBe(9);
  });
});
