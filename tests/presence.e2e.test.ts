import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { api, Client, createTeam, uniqueUser, type Frame, type Target } from "./harness";
import { distributed, useTarget } from "./target";

// Real processes and sockets: each wait inside has its own deadline; this bounds a whole test.
setDefaultTimeout(60_000);

const t = useTarget();
// On the distributed stack (E2E_RELAY_URLS) sockets are pinned to relays: every test spans both.
const relays = distributed ? (process.env.E2E_RELAY_URLS ?? "").split(",").filter(Boolean) : [];
const on = (i: number): Target => (relays.length >= 2 ? ({ ...t, ws: relays[i % relays.length]!.replace(/^http/, "ws") + "/v1/ws" } as Target) : t);
const connect = async (user: string, relay = 0) => Client.connect(on(relay), await t.token(user));

const isTyping = (user: string, ch?: string) => (f: Frame) => f.event === "typing" && f.user === user && (!ch || f.channel_id === ch);
const typingFrom = (c: Client, user: string) => c.frames.filter(isTyping(user));
const presence = (c: Client, ch: string) => c.frames.filter((f) => f.event === "presence" && f.channel_id === ch);
const cameOnline = (ch: string, user: string) => (f: Frame) => f.event === "presence" && f.channel_id === ch && f.online.includes(user);
const wentOffline = (ch: string, user: string) => (f: Frame) => f.event === "presence" && f.channel_id === ch && f.offline.includes(user);
const getPresence = async (team: string, user: string) => api(t, "GET", `/v1/teams/${team}/presence`, await t.token(user));

describe("typing", () => {
  test("reaches the other members' sockets across relays, not the typist's own, not outsiders; DMs only their recipient", async () => {
    const [a, b, c, out] = [uniqueUser("a"), uniqueUser("b"), uniqueUser("c"), uniqueUser("out")];
    const team = await createTeam(t, a, [b, c]);
    const outTeam = await createTeam(t, out, [b]);
    const [a0, a1, b1, c1, c0, o1] = [await connect(a, 0), await connect(a, 1), await connect(b, 1), await connect(c, 1), await connect(c, 0), await connect(out, 1)];
    expect(a0.frames[0]!.typing_ttl_ms).toBe(6000);

    a0.send({ op: "typing", channel_id: team, to: "*" });
    for (const cl of [b1, c1, c0]) expect(await cl.next(isTyping(a))).toEqual({ event: "typing", channel_id: team, user: a, to: "*" });
    // Barrier: typing of one channel travels one path in order, so B's later typing comes after any of A's.
    b1.send({ op: "typing", channel_id: team, to: "*" });
    for (const cl of [a0, a1, c1]) await cl.next(isTyping(b));
    expect([typingFrom(a0, a), typingFrom(a1, a), typingFrom(b1, b)]).toEqual([[], [], []]);

    // A DM's typing: its recipient only.
    c0.send({ op: "typing", channel_id: team, to: a });
    expect(await a1.next(isTyping(c))).toEqual({ event: "typing", channel_id: team, user: c, to: a });
    await a0.next(isTyping(c));
    b1.send({ op: "typing", channel_id: outTeam, to: "*" }); // (throttled per channel: another channel is fine)
    await o1.next(isTyping(b, outTeam));
    await new Promise((r) => setTimeout(r, 2_100)); // B's throttle in `team`
    b1.send({ op: "typing", channel_id: team, to: "*" });
    await c1.next(isTyping(b));
    expect(typingFrom(b1, c)).toEqual([]);
    expect(typingFrom(c1, c)).toEqual([]);
    expect(o1.frames.filter((f) => f.event === "typing" && f.channel_id === team)).toEqual([]);
    await Promise.all([a0, a1, b1, c1, c0, o1].map((x) => x.close()));
  });

  test("throttled to one per user and channel per 2 s, whatever the relay; never acked, invalid frames answered", async () => {
    const [a, b, c] = [uniqueUser("a"), uniqueUser("b"), uniqueUser("c")];
    const team = await createTeam(t, a, [b, c]);
    const [a0, a1, b1, c0] = [await connect(a, 0), await connect(a, 1), await connect(b, 1), await connect(c, 0)];
    a0.send({ op: "typing", channel_id: team, to: "*", client_msg_id: "t-1" });
    await b1.next(isTyping(a));
    const first = Date.now(); // A's typing was let through before this
    a0.send({ op: "typing", channel_id: team, to: "*" }); // same socket: within 2 s
    a1.send({ op: "typing", channel_id: team, to: "*" }); // A's other socket, maybe another relay
    const bad = await a0.request({ op: "typing", channel_id: "nope", to: "*", client_msg_id: "t-2" });
    expect(bad).toMatchObject({ event: "error", code: "invalid_message", client_msg_id: "t-2" });
    expect(await a0.request({ op: "typing", channel_id: team, to: uniqueUser("x"), client_msg_id: "t-3" })).toMatchObject({ event: "error", code: "not_found" });
    c0.send({ op: "typing", channel_id: team, to: "*" }); // barrier
    await b1.next(isTyping(c));
    expect(typingFrom(b1, a)).toHaveLength(1);
    expect(a0.frames.filter((f) => f.client_msg_id === "t-1")).toEqual([]); // a valid typing frame is not acked

    // (A's second socket may have been handled later than `first` on its relay: the retry uses the first.)
    await new Promise((r) => setTimeout(r, 2_000 - (Date.now() - first)));
    a0.send({ op: "typing", channel_id: team, to: "*" });
    const again = await b1.next(isTyping(a));
    expect(again.user).toBe(a);
    expect(Date.now() - first).toBeGreaterThanOrEqual(2_000);
    await Promise.all([a0, a1, b1, c0].map((x) => x.close()));
  });
});

describe("presence", () => {
  test("appears on connect, answered by GET presence, survives a reconnect within the grace, leaves after it", async () => {
    const [a, b, c, out] = [uniqueUser("a"), uniqueUser("b"), uniqueUser("c"), uniqueUser("out")];
    const team = await createTeam(t, a, [b, c]);
    const a0 = await connect(a, 0);
    await a0.find(cameOnline(team, a));
    let b1 = await connect(b, 1);
    await a0.find(cameOnline(team, b));
    await b1.find(cameOnline(team, b)); // their own sockets are members too
    const got = await getPresence(team, c);
    expect(got.status).toBe(200);
    expect(got.body.data.online.sort()).toEqual([a, b].sort());
    expect((await getPresence(team, out)).status).toBe(403);

    // B drops and comes back through the other relay within the grace: no offline frame.
    await b1.close();
    b1 = await connect(b, 0);
    await Bun.sleep(6_500); // the grace (5 s) and a batch (1 s) — time is what is being tested
    const c1 = await connect(c, 1);
    await a0.find(cameOnline(team, c)); // barrier: any frame about B's leaving would have come before
    expect(presence(a0, team).filter((f) => f.offline.includes(b))).toEqual([]);
    expect((await getPresence(team, a)).body.data.online.sort()).toEqual([a, b, c].sort());

    // B leaves for good: offline after the grace, not before.
    const left = Date.now();
    await b1.close();
    const frame = await a0.find(wentOffline(team, b), 15_000);
    expect(Date.now() - left).toBeGreaterThanOrEqual(4_500);
    expect(frame.online).not.toContain(b);
    await c1.find(wentOffline(team, b));
    expect((await getPresence(team, a)).body.data.online.sort()).toEqual([a, c].sort());
    await Promise.all([a0, c1].map((x) => x.close()));
  });

  test("a connect storm is batched: at most one frame per channel per second", async () => {
    const [a, ...others] = [uniqueUser("a"), ...Array.from({ length: 12 }, (_, i) => uniqueUser(`m${i}`))];
    const team = await createTeam(t, a, others);
    const a0 = await connect(a, 0);
    await a0.find(cameOnline(team, a));
    const socks = await Promise.all(others.map((u, i) => connect(u, i)));
    for (const u of others) await a0.find(cameOnline(team, u));
    const frames = presence(a0, team);
    expect(frames.length).toBeLessThan(others.length); // several users per frame
    const at: number[] = [];
    // Frame spacing is checked on arrival: gather arrival times from a fresh storm.
    const seen = a0.frames.length;
    const watch = setInterval(() => {
      for (let i = seen + at.length; i < a0.frames.length; i++) if (a0.frames[i]!.event === "presence") at.push(performance.now());
    }, 1);
    await Promise.all(socks.map((s) => s.close()));
    for (const u of others) await a0.find(wentOffline(team, u), 15_000);
    clearInterval(watch);
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThan(800);
    await a0.close();
  });
});

const script = process.env.E2E_DIST_SCRIPT;
describe.skipIf(!script || relays.length < 2)("a relay killed without goodbye (distributed stack)", () => {
  test("its users go offline within 30 s; the relay is restarted afterwards", async () => {
    const [a, b] = [uniqueUser("a"), uniqueUser("b")];
    const team = await createTeam(t, a, [b]);
    const a0 = await connect(a, 0);
    const b1 = await connect(b, 1);
    await a0.find(cameOnline(team, b));
    const state = process.env.INFRA_STATE ?? "/tmp/chat-infra";
    const pid = Number(readFileSync(join(state, "dist", "relay2.pid"), "utf8").trim());
    const killed = Date.now();
    process.kill(pid, "SIGKILL");
    try {
      await a0.find(wentOffline(team, b), 30_000);
      expect(Date.now() - killed).toBeLessThan(30_000);
      expect((await getPresence(team, a)).body.data.online).toEqual([a]);
    } finally {
      const p = Bun.spawn(["bash", join(import.meta.dir, "..", script!), "restart", "relay2"], { stdout: "ignore", stderr: "pipe" });
      if ((await p.exited) !== 0) throw new Error(`restart relay2 failed: ${await new Response(p.stderr).text()}`);
    }
    void b1;
    await a0.close();
  }, 90_000);
});
