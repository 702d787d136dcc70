import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { Client, createTeam, uniqueUser, type Target } from "./harness";
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
});
