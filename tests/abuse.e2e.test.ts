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
