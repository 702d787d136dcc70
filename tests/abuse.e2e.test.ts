import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { Client, createTeam, uniqueUser, type Target } from "./harness";
import { useTarget } from "./target";

setDefaultTimeout(60_000);

const t = useTarget();
// The socket cap is per relay: in the distributed stack the test talks to one relay directly.
const relay = (process.env.E2E_RELAY_URLS ?? "").split(",").filter(Boolean)[0];
const oneRelay = (): Target => (relay ? new Proxy(t, { get: (o, k) => (k === "ws" ? relay.replace(/^http/, "ws") + "/v1/ws" : (o as any)[k]) }) : t);

const upgradeHeaders = { upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" };

describe("abuse limits", () => {
  test("a user's 21st socket is refused with 429 and Retry-After before any upgrade; closing one frees a slot", async () => {
    const a = uniqueUser("a");
    await createTeam(t, a);
    const token = await t.token(a);
    const target = oneRelay();
    const open = await Promise.all(Array.from({ length: 20 }, () => Client.connect(target, token)));
    const res = await fetch(target.ws.replace(/^ws/, "http"), { headers: { ...upgradeHeaders, authorization: `Bearer ${token}` } });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(((await res.json()) as any).error.code).toBe("rate_limited");
    // another user is not affected
    const b = uniqueUser("b");
    await (await Client.connect(target, await t.token(b))).close();
    await open.pop()!.close();
    const again = await Client.connect(target, token);
    await Promise.all([...open, again].map((c) => c.close()));
  });

  test("malformed frames are charged to the rate bucket like any other", async () => {
    const a = uniqueUser("a");
    const team = await createTeam(t, a);
    const c = await Client.connect(t, await t.token(a));
    for (let i = 0; i < 60; i++) c.send("{not json");
    // then one valid frame with an id: past the burst it must be refused as rate_limited, echoing its id
    c.send({ channel_id: team, to: "*", type: "text", data: "after the flood", client_msg_id: "after" });
    const answer = await c.find((f) => f.client_msg_id === "after");
    expect(answer).toMatchObject({ event: "error", code: "rate_limited" });
    const errors = c.frames.filter((f) => f.event === "error");
    expect(errors.filter((f) => f.code === "rate_limited").length).toBeGreaterThan(0);
    expect(errors.filter((f) => f.code === "invalid_message").length).toBeLessThanOrEqual(41);
    expect(c.closed).toBeUndefined();
    await c.close();
  });
});

describe("token lifetime on open sockets", () => {
  test("ready carries expires_at; token_expiring at once when less than 60 s remain; closed 4001 at exp", async () => {
    const a = uniqueUser("a");
    await createTeam(t, a);
    const c = await Client.connect(t, await t.token(a, 2));
    const exp = Date.parse(c.frames[0]!.expires_at);
    expect(Math.abs(exp - (Date.now() + 2000))).toBeLessThan(2000);
    const warning = await c.next((f) => f.event === "token_expiring");
    expect(warning.expires_at).toBe(c.frames[0]!.expires_at);
    const closed = await c.waitClosed();
    expect(closed.code).toBe(4001);
    expect(Date.now()).toBeGreaterThanOrEqual(exp);
  });

  test("refresh with a token of the same user extends the socket; another user's token closes it with 4003", async () => {
    const [a, b] = [uniqueUser("a"), uniqueUser("b")];
    const team = await createTeam(t, a);
    const c = await Client.connect(t, await t.token(a, 2));
    const oldExp = Date.parse(c.frames[0]!.expires_at);
    const ack = await c.request({ op: "refresh", token: await t.token(a, 600), client_msg_id: "r-1" });
    expect(ack).toMatchObject({ event: "ack", op: "refresh", client_msg_id: "r-1" });
    expect(Date.parse(ack.expires_at)).toBeGreaterThan(oldExp + 500_000);
    // The old deadline passes (a wait for time itself, the behaviour under test), then the socket still works.
    await Bun.sleep(Math.max(0, oldExp - Date.now()) + 600);
    expect((await c.request({ channel_id: team, to: "*", type: "text", data: "still here", client_msg_id: "s-1" })).event).toBe("ack");
    const bad = await c.request({ op: "refresh", token: "garbage", client_msg_id: "r-2" });
    expect(bad).toMatchObject({ event: "error", code: "forbidden" });
    const wrong = await c.request({ op: "refresh", token: await t.token(b, 600), client_msg_id: "r-3" });
    expect(wrong).toMatchObject({ event: "error", code: "forbidden" });
    expect((await c.waitClosed()).code).toBe(4003);
  });

  test("an unknown op is invalid_message and changes nothing", async () => {
    const a = uniqueUser("a");
    await createTeam(t, a);
    const c = await Client.connect(t, await t.token(a));
    for (const op of ["nope", "__proto__", "constructor", 5, null])
      expect(await c.request({ op, client_msg_id: `op-${String(op)}` })).toMatchObject({ event: "error", code: "invalid_message" });
    expect(c.closed).toBeUndefined();
    await c.close();
  });
});
