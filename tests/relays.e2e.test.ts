import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { distScript, kill9, restart } from "./dist-control";
import { Client, api, createTeam, opened, stored, uniqueUser, upgradeStatus, type Target } from "./harness";
import { distributed, useTarget } from "./target";

// Real processes and sockets: each wait inside has its own deadline; this bounds a whole test.
setDefaultTimeout(60_000);

// E2E_RELAY_URLS names each relay directly (scripts/test.sh sets it for the distributed stack), so
// these tests pin sockets to particular relays instead of trusting the load balancer's spread.
const relays = (process.env.E2E_RELAY_URLS ?? "").split(",").filter(Boolean);

describe.skipIf(relays.length < 2 || !distributed)("across relays (distributed stack)", () => {
  const t = useTarget();
  const on = (i: number) => ({ ws: relays[i]!.replace(/^http/, "ws") + "/v1/ws" }) as Target;

  test("a broadcast sent through relay A reaches the members on relay B, and nobody else", async () => {
    const [a, b, c, out] = [uniqueUser("a"), uniqueUser("b"), uniqueUser("c"), uniqueUser("out")];
    const team = await createTeam(t, a, [b, c]);
    const side = await createTeam(t, a, [out]);
    const a0 = await Client.connect(on(0), await t.token(a));
    const b1 = await Client.connect(on(1), await t.token(b));
    const c1 = await Client.connect(on(1), await t.token(c));
    const o1 = await Client.connect(on(1), await t.token(out));
    const ack = await a0.request({ channel_id: team, to: "*", type: "text", data: "cross", client_msg_id: "x-1" });
    for (const cl of [b1, c1]) expect(await cl.find((f) => f.event === "message" && f.id === ack.id)).toMatchObject({ from: a, data: "cross" });

    // A DM from B (relay 1) to A (relay 0): only A's and B's sockets, not C's on B's own relay.
    const dm = await b1.request({ channel_id: team, to: a, type: "text", data: "dm across", client_msg_id: "x-2" });
    expect(await a0.find((f) => f.event === "message" && f.id === dm.id)).toMatchObject({ to: a, from: b });
    expect(await b1.find((f) => f.event === "message" && f.id === dm.id)).toMatchObject({ to: a, from: b });
    const last = await a0.request({ channel_id: team, to: "*", type: "text", data: "barrier", client_msg_id: "x-3" });
    await c1.find((f) => f.event === "message" && f.id === last.id);
    expect(c1.messages(team).some((f) => f.id === dm.id)).toBe(false);
    const sideAck = await a0.request({ channel_id: side, to: "*", type: "text", data: "side", client_msg_id: "x-4" });
    await o1.find((f) => f.event === "message" && f.id === sideAck.id);
    expect(o1.messages(team)).toEqual([]);
    await Promise.all([a0, b1, c1, o1].map((x) => x.close()));
  });

  test("a client_msg_id resent through the other relay gets the original ack and makes no second message", async () => {
    const a = uniqueUser("a");
    const team = await createTeam(t, a);
    const frame = { channel_id: team, to: "*", type: "text", data: "only once", client_msg_id: "xr-1" };
    const a0 = await Client.connect(on(0), await t.token(a));
    const ack = await a0.request(frame);
    expect(ack.event).toBe("ack");
    const a1 = await Client.connect(on(1), await t.token(a));
    expect(await a1.request(frame)).toEqual(ack);
    expect(await a0.request(frame)).toEqual(ack); // and again on the first relay
    const last = await a1.request({ ...frame, data: "barrier", client_msg_id: "xr-2" });
    await a0.find((f) => f.event === "message" && f.id === last.id);
    expect(a0.messages(team).map((f) => f.data)).toEqual(["only once", "barrier"]);
    await stored(t, team, a0.token, last.id);
    const h = await api(t, "GET", `/v1/teams/${team}/messages?limit=100`, await t.token(a));
    expect(h.body.data.map((m: any) => m.id)).toEqual([last.id, ack.id]);
    await Promise.all([a0.close(), a1.close()]);
  });

  // Kills relay1 (the first of E2E_RELAY_URLS) and starts it again with scripts/dist.sh.
  test.skipIf(!distScript)("a client_msg_id resent through the other relay after the first one was SIGKILLed: one message, the original ack", async () => {
    const a = uniqueUser("a");
    const team = await createTeam(t, a);
    const frame = { channel_id: team, to: "*", type: "text", data: "before the crash", client_msg_id: "xk-1" };
    const a0 = await Client.connect(on(0), await t.token(a));
    const ack = await a0.request(frame);
    expect(ack.event).toBe("ack");
    await kill9("relay1");
    try {
      expect((await a0.waitClosed()).code).toBe(1006);
      const a1 = await Client.connect(on(1), await t.token(a), `since=${team}:0`);
      expect(await a1.request(frame)).toEqual(ack);
      const after = await a1.request({ ...frame, data: "after", client_msg_id: "xk-2" });
      await a1.find((f) => f.event === "message" && f.id === after.id);
      expect(a1.messages(team).map((f) => [f.id, f.data])).toEqual([
        [ack.id, "before the crash"],
        [after.id, "after"],
      ]);
      await a1.close();
    } finally {
      await restart("relay1");
    }
  }, 90_000);
});

// nginx marks a server failed after a refused connect and clears the mark only when a request to it
// completes; a WebSocket completes when it closes. With `max_fails` on the relays, a relay back from a
// restart was skipped for as long as the sockets it took since stayed open (one new socket per
// fail_timeout per worker), and both back at once answered 503 "no live upstreams" while both were up.
describe.skipIf(relays.length < 2 || !distributed || !distScript)("the balancer after both relays were down (distributed stack)", () => {
  const t = useTarget();

  test("once both are back, every new socket is taken at once while the ones opened since stay open", async () => {
    const token = await t.token(uniqueUser("a"));
    await Promise.all([kill9("relay1"), kill9("relay2")]);
    try {
      // No relay at all: nginx's own 503, and every nginx worker has seen both relays refuse.
      for (let i = 0; i < 12; i++) expect(await upgradeStatus(t.ws, token)).toBe(503);
    } finally {
      await restart("relay1");
      await restart("relay2");
    }
    const held: WebSocket[] = [];
    const refused: number[] = [];
    try {
      for (let i = 0; i < 24; i++) {
        const ws = new WebSocket(t.ws, { headers: { authorization: `Bearer ${token}` } } as any);
        held.push(ws);
        if (!(await opened(ws))) refused.push(i);
      }
      expect(refused).toEqual([]);
    } finally {
      for (const ws of held) ws.close();
    }
  }, 90_000);
});
